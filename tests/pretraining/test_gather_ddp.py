"""The contrastive term over a global batch: two gloo processes give the loss and gradients of one process."""

import math
import os

import pytest
import torch
import torch.multiprocessing as mp

from medmllm.pretraining.objective import gather_rows, info_nce

pytestmark = pytest.mark.slow

SIZES = (3, 0, 2)  # rows per process; the second one has no image of the modality


def _data():
    g = torch.Generator().manual_seed(0)
    n = sum(SIZES)
    return torch.randn(n, 6, generator=g), torch.randn(n, 6, generator=g)


def _worker(rank: int, world: int, port: int, out: dict) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        img, txt = _data()
        start = sum(SIZES[:rank])
        mine = slice(start, start + SIZES[rank])
        x = img[mine].clone().requires_grad_(True)
        y = txt[mine].clone().requires_grad_(True)
        gx, gy = gather_rows(x), gather_rows(y)
        loss = info_nce(gx, gy, torch.tensor(math.log(10.0)))
        loss.backward()
        out[rank] = (loss.item(), gx.detach(), x.grad.clone(), y.grad.clone())
    finally:
        dist.destroy_process_group()


def test_gathered_infonce_equals_one_process_over_the_global_batch():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    world = len(SIZES)
    manager = mp.Manager()
    out = manager.dict()
    mp.spawn(_worker, args=(world, port, out), nprocs=world, join=True)
    img, txt = _data()
    x, y = img.clone().requires_grad_(True), txt.clone().requires_grad_(True)
    ref = info_nce(x, y, torch.tensor(math.log(10.0)))
    ref.backward()
    for rank in range(world):
        loss, gathered, gx, gy = out[rank]
        start = sum(SIZES[:rank])
        assert loss == pytest.approx(ref.item(), rel=1e-5)
        assert torch.allclose(gathered, img)  # every process sees the global batch in rank order
        # each process's rows get world x the gradient (every process computes the same global loss);
        # DDP's averaging over processes turns that back into the one-process gradient
        assert torch.allclose(gx / world, x.grad[start:start + SIZES[rank]], atol=1e-6)
        assert torch.allclose(gy / world, y.grad[start:start + SIZES[rank]], atol=1e-6)
