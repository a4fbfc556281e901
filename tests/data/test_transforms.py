"""Transforms on the real X-ray and CT assets and on synthetic volumes with known HU."""

import numpy as np
import pytest
import torch

from medmllm.config import TransformConfig
from medmllm.data.anyres import best_grid, fit_size
from medmllm.data.transforms import HU_WINDOWS, ImagePipeline, resolve_windows
from medmllm.errors import ConfigError, InputError
from medmllm.io import load_image
from medmllm.io.writers import write_ct_series, write_nifti, write_png


def spec(size, channels, mean=None, std=None):
    return {"spatial_size": size, "channels": channels, "mean": mean, "std": std}


def test_xray_resize_keeps_aspect_and_pads(cxr):
    h, w = load_image(cxr).array.shape  # (1955, 1841): portrait
    assert fit_size((h, w), (64, 64)) == (64, 60)
    x = ImagePipeline("xray", spec((64, 64), 3)).preprocess(cxr)
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    assert torch.equal(x[0], x[1]) and torch.equal(x[0], x[2])  # grayscale repeated to RGB
    assert torch.all(x[:, :, :2] == 0) and torch.all(x[:, :, -2:] == 0)  # 2 padded columns each side
    inner = x[:, :, 2:-2]
    assert 0.0 <= inner.min() and inner.max() <= 1.0 and inner.std() > 0.05
    mean, std = [0.48, 0.45, 0.40], [0.27, 0.26, 0.28]
    y = ImagePipeline("xray", spec((64, 64), 3, mean, std)).preprocess(cxr)
    back = y * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)
    assert torch.allclose(back, x, atol=1e-5)


def test_anyres_global_view_and_tiles(cxr):
    cfg = TransformConfig()
    cfg.xray.mode, cfg.xray.max_tiles = "anyres", 4
    x = ImagePipeline("xray", spec((64, 64), 1), cfg).preprocess(cxr)
    assert best_grid((1955, 1841), (64, 64), 4) == (2, 2)
    assert x.shape == (5, 1, 64, 64)
    plain = ImagePipeline("xray", spec((64, 64), 1)).preprocess(cxr)
    assert torch.allclose(x[0], plain, atol=1e-6)  # view 0 is the global view
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert best_grid((100, 400), (64, 64), 4) == (1, 4)  # a wide image gets a row of tiles


def test_rgb_to_one_channel(tmp_path):
    img = np.zeros((20, 20, 3))
    img[..., 1] = 1.0  # pure green
    write_png(img, tmp_path / "g.png")
    x = ImagePipeline("xray", spec((20, 20), 1)).preprocess(str(tmp_path / "g.png"))
    assert x.shape == (1, 20, 20)
    assert torch.allclose(x, torch.full_like(x, 0.587), atol=0.01)  # BT.601 luminance of green


def test_ct_real_asset_windows_shape_and_range(ct_small):
    img = load_image(ct_small)
    assert img.array.shape == (1, 128, 128)
    cfg = TransformConfig()
    cfg.ct.spacing = [5.0, 2.0, 2.0]
    x = ImagePipeline("ct", spec((4, 48, 48), 3), cfg).preprocess(ct_small)
    assert x.shape == (3, 4, 48, 48)
    assert 0.0 <= x.min() and x.max() <= 1.0
    # 128 px * 0.66 mm -> about 42 px at 2 mm, centred in 48: the border columns are padding (air)
    air = [(-1024 - (lv - wd / 2)) / wd for wd, lv in resolve_windows(None, 3)]
    for c in range(3):
        assert torch.allclose(x[c, :, :, 0], torch.tensor(max(air[c], 0.0)), atol=1e-6)
    # only one real slice: the other three are padding too; the real slice has tissue contrast
    real = [d for d in range(4) if x[1, d].std() > 0.01]
    assert len(real) == 1 and x[1, real[0]].max() > 0.9


def test_ct_windows_exact_on_known_hu(tmp_path):
    vol = np.zeros((4, 8, 8))
    vol[:, :, :2] = -1000  # air
    vol[:, :, 2:4] = -600  # lung level
    vol[:, :, 4:6] = 40  # soft tissue
    vol[:, :, 6:] = 1300  # bone
    write_nifti(vol, (2.0, 1.0, 1.0), tmp_path / "v.nii.gz")
    cfg = TransformConfig()
    cfg.ct.spacing = None
    cfg.ct.windows = ["lung", "mediastinum", "bone"]
    x = ImagePipeline("ct", spec((4, 8, 8), 3), cfg).preprocess(str(tmp_path / "v.nii.gz"))
    col = x[:, 0, 0, [0, 2, 4, 6]]  # (C, 4 tissues)
    for c, name in enumerate(["lung", "mediastinum", "bone"]):
        wd, lv = HU_WINDOWS[name]
        want = np.clip((np.array([-1000, -600, 40, 1300]) - (lv - wd / 2)) / wd, 0, 1)
        assert np.allclose(col[c].numpy(), want, atol=1e-5), name
    assert col[0, 1] == pytest.approx(0.5)  # the lung level sits mid-window


def test_ct_resample_and_resize(tmp_path):
    vol = np.full((10, 20, 20), 40.0)
    paths = write_ct_series(vol, (1.0, 0.5, 0.5), tmp_path / "s")
    cfg = TransformConfig()
    cfg.ct.spacing = [2.0, 1.0, 1.0]
    cfg.ct.windows = [[400, 40]]
    pipe = ImagePipeline("ct", spec((5, 10, 10), 1), cfg)
    x = pipe.preprocess(str(paths[0].parent))
    assert x.shape == (1, 5, 10, 10)  # 10 mm x 10 mm x 10 mm at 2x1x1 mm: no padding needed
    assert torch.allclose(x, torch.full_like(x, 0.5), atol=1e-4)
    cfg.ct.fit, cfg.ct.spacing = "resize", None
    y = ImagePipeline("ct", spec((3, 7, 9), 1), cfg).preprocess(str(paths[0].parent))
    assert y.shape == (1, 3, 7, 9)
    cfg.ct.min_slices = 16
    with pytest.raises(InputError, match="10 slice"):
        ImagePipeline("ct", spec((3, 7, 9), 1), cfg).preprocess(str(paths[0].parent))


def test_train_augmentation_only_when_training(tmp_path):
    write_png(np.tile(np.linspace(0, 1, 32), (32, 1)), tmp_path / "r.png")
    src = str(tmp_path / "r.png")
    cfg = TransformConfig()
    cfg.augment.prob = 1.0
    ev = ImagePipeline("xray", spec((32, 32), 1), cfg)
    assert torch.equal(ev(src), ev(src))  # evaluation is deterministic
    tr = ImagePipeline("xray", spec((32, 32), 1), cfg, train=True)
    a, b = tr(src), tr(src)
    assert a.shape == b.shape == (1, 32, 32)
    assert not torch.equal(a, b) and not torch.equal(a, ev(src))
    assert type(a) is torch.Tensor and type(ev(src)) is torch.Tensor  # MONAI metadata dropped
    assert tr.config_hash == ev.config_hash  # augmentation is not part of the cached output


def test_config_errors():
    with pytest.raises(ConfigError, match="2 window\\(s\\) but the CT encoder wants 3"):
        resolve_windows(["lung", "bone"], 3)
    with pytest.raises(ConfigError, match="unknown window 'brain'"):
        resolve_windows(["brain"], 1)
    cfg = TransformConfig()
    cfg.xray.mode = "stretch"
    with pytest.raises(ConfigError, match="resize_pad or anyres"):
        ImagePipeline("xray", spec((8, 8), 1), cfg)
    with pytest.raises(InputError, match="expected a CT volume"):
        ImagePipeline("ct", spec((2, 8, 8), 1)).preprocess(__import__("pydicom.data").data.get_testdata_file(
            "RG1_UNCR.dcm"))
