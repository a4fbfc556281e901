"""The composite model: the splice, mixed batches, mismatches, generation, likelihoods, freezing."""

import pytest
import torch

from medmllm.models.mllm import ImageTokenMismatchError, MedMLLM

from .conftest import CT_SHAPE, XRAY_SHAPE, make_batch, mixed_samples, tiny_model_config


def test_counts_and_input_spec(tiny_model):
    # xray: (32/8)^2 patches through a token-wise MLP; ct: perceiver with 8 latents
    assert tiny_model.num_image_tokens("xray", XRAY_SHAPE) == (32 // 8) ** 2
    assert tiny_model.num_image_tokens("ct", CT_SHAPE) == 8
    assert tiny_model.input_spec("ct") == {"spatial_size": (8, 32, 32), "channels": 1, "mean": None, "std": None}
    with pytest.raises(Exception, match="modality 'mri'"):
        tiny_model.input_spec("mri")


def test_splice_places_features_at_placeholders(tiny_model):
    m = tiny_model
    batch = make_batch(m, mixed_samples())
    with torch.no_grad():
        emb = m.embed(batch["input_ids"], batch["pixel_values"], batch["image_sample_index"])
        plain = m.llm.get_input_embeddings()(batch["input_ids"])
        xf = m.connectors["xray"](m.encoders["xray"](batch["pixel_values"]["xray"]), (4, 4))  # (3, 16, D)
        cf = m.connectors["ct"](m.encoders["ct"](batch["pixel_values"]["ct"]), (2, 4, 4))  # (2, 8, D)
    ids = batch["input_ids"]
    xpos, cpos = ids == m.placeholder_ids["xray"], ids == m.placeholder_ids["ct"]
    assert torch.equal(emb[~(xpos | cpos)], plain[~(xpos | cpos)])
    # sample 0: xray image 0; sample 2: xray images 1, 2 in placeholder order; ct images of samples 1, 2
    assert torch.allclose(emb[0][xpos[0]], xf[0])
    assert torch.allclose(emb[2][xpos[2]], torch.cat([xf[1], xf[2]]))
    assert torch.allclose(emb[1][cpos[1]], cf[0]) and torch.allclose(emb[2][cpos[2]], cf[1])


def test_images_given_out_of_order_are_matched_by_sample_index(tiny_model):
    batch = make_batch(tiny_model, mixed_samples())
    pv, si = dict(batch["pixel_values"]), dict(batch["image_sample_index"])
    # sample order [2, 0, 2]; a stable sort restores [0, 2, 2] and the placeholder order
    pv["xray"], si["xray"] = pv["xray"][torch.tensor([1, 0, 2])], si["xray"][torch.tensor([1, 0, 2])]
    with torch.no_grad():
        a = tiny_model.embed(batch["input_ids"], batch["pixel_values"], batch["image_sample_index"])
        b = tiny_model.embed(batch["input_ids"], pv, si)
    assert torch.allclose(a, b)


def test_forward_backward_mixed_batch():
    torch.manual_seed(0)
    m = MedMLLM.build(tiny_model_config())
    batch = make_batch(m, mixed_samples())
    out = m(**batch)
    assert out.logits.shape[:2] == batch["input_ids"].shape
    assert torch.isfinite(out.loss) and out.loss.item() > 0
    out.loss.backward()
    parts = {"encoders.xray": m.encoders["xray"], "encoders.ct": m.encoders["ct"],
             "connectors.xray": m.connectors["xray"], "connectors.ct": m.connectors["ct"], "llm": m.llm}
    for part, module in parts.items():
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and sum(g.abs().sum() for g in grads) > 0, part
    # the text-only sample's logits equal the bare LLM's on its ids
    with torch.no_grad():
        n = int(batch["attention_mask"][3].sum())
        ref = m.llm(input_ids=batch["input_ids"][3:4, :n]).logits
        assert torch.allclose(out.logits[3:4, :n], ref, atol=1e-5)


def test_image_changes_only_its_sample(tiny_model):
    batch = make_batch(tiny_model, mixed_samples())
    pv = {k: v.clone() for k, v in batch["pixel_values"].items()}
    pv["xray"][0] += 1.0  # sample 0's only image
    with torch.no_grad():
        a = tiny_model(batch["input_ids"], batch["attention_mask"], None, batch["pixel_values"],
                       batch["image_sample_index"]).logits
        b = tiny_model(batch["input_ids"], batch["attention_mask"], None, pv, batch["image_sample_index"]).logits
    assert not torch.allclose(a[0], b[0])
    assert torch.equal(a[1:], b[1:])


@pytest.mark.parametrize("drop", ["token", "image"])
def test_count_mismatch_raises_with_sample_index(tiny_model, drop):
    batch = make_batch(tiny_model, mixed_samples())
    ids, pv, si = batch["input_ids"].clone(), dict(batch["pixel_values"]), dict(batch["image_sample_index"])
    if drop == "token":  # sample 2 loses one xray placeholder token
        pos = (ids[2] == tiny_model.placeholder_ids["xray"]).nonzero()[0, 0]
        ids[2, pos] = tiny_model.tokenizer.pad_token_id
    else:  # sample 2's last xray image is missing
        pv["xray"], si["xray"] = pv["xray"][:2], si["xray"][:2]
    with pytest.raises(ImageTokenMismatchError, match="batch sample 2: .*<xray>"):
        tiny_model(ids, batch["attention_mask"], None, pv, si)


def test_placeholders_without_pixels_raise(tiny_model):
    batch = make_batch(tiny_model, mixed_samples())
    with pytest.raises(ImageTokenMismatchError, match="batch sample 1: 8 <ct>"):
        tiny_model(batch["input_ids"], batch["attention_mask"], None, {"xray": batch["pixel_values"]["xray"]},
                   batch["image_sample_index"])


def test_sequence_loss_per_sample(tiny_model):
    samples = mixed_samples()
    batch = make_batch(tiny_model, samples)
    with torch.no_grad():
        losses = tiny_model.sequence_loss(batch)
        assert losses.shape == (4,)
        for i, s in enumerate(samples):  # equals each sample's own mean token loss, padding-free
            one = make_batch(tiny_model, [s])
            assert torch.allclose(losses[i], tiny_model(**one).loss, atol=1e-5)


def _prompts():
    out = []
    for i, (msgs, imgs) in enumerate(mixed_samples(seed=1)):
        out.append((msgs[:1] if i % 2 else [{"role": "system", "content": "Be brief."}] + msgs[:1], imgs))
    return out


def test_batched_greedy_equals_one_at_a_time(tiny_model):
    prompts = _prompts()
    batch = make_batch(tiny_model, prompts, generation=True)
    eos = set(tiny_model.llm.generation_config.eos_token_id)
    with torch.no_grad():
        together = tiny_model.generate(batch["input_ids"], batch["attention_mask"], batch["pixel_values"],
                                       batch["image_sample_index"], max_new_tokens=12)
        for i, p in enumerate(prompts):
            one = make_batch(tiny_model, [p], generation=True)
            alone = tiny_model.generate(one["input_ids"], one["attention_mask"], one["pixel_values"],
                                        one["image_sample_index"], max_new_tokens=12)[0].tolist()
            mine = together[i].tolist()[: len(alone)]
            assert mine == alone, i
            assert len(alone) == 12 or alone[-1] in eos


def test_generation_modes_and_stream(tiny_model):
    one = make_batch(tiny_model, _prompts()[:1], generation=True)
    args = (one["input_ids"], one["attention_mask"], one["pixel_values"], one["image_sample_index"])
    greedy = tiny_model.generate(*args, max_new_tokens=8)
    assert greedy.shape[1] <= 8
    ph = set(tiny_model.placeholder_ids.values())
    torch.manual_seed(0)
    sampled = tiny_model.generate(*args, max_new_tokens=8, do_sample=True, temperature=1.5, top_p=0.9)
    beams = tiny_model.generate(*args, max_new_tokens=8, num_beams=3)
    rep = tiny_model.generate(*args, max_new_tokens=8, repetition_penalty=1.5)
    for out in (sampled, beams, rep):
        assert 1 <= out.shape[1] <= 8 and not (set(out.flatten().tolist()) & ph)
    text = "".join(tiny_model.stream(*args, max_new_tokens=8))
    assert text == tiny_model.tokenizer.decode(greedy[0], skip_special_tokens=True)
