"""The LLaVA converter on every variation in FORMATS.md, written in the published shape."""

import json

import pytest

from medmllm.data.formats.llava import convert_llava
from medmllm.data.schema import read_manifest, sidecar_path, image_root, validate_record

H, G = "human", "gpt"


def turn(who, text):
    return {"from": who, "value": text}


SAMPLES = [
    # converted
    {"id": "000000033471", "image": "coco/train2017/000000033471.jpg",
     "conversations": [turn(H, "<image>\nWhat are the colors of the bus in the image?"),
                       turn(G, "The bus in the image is white and red."),
                       turn(H, "What feature can be seen on the back of the bus?"),
                       turn(G, "The back of the bus features an advertisement.")]},
    {"id": 42, "image": "coco/a.jpg", "conversations": [turn(H, "<image>\nDescribe the image in detail."),
                                                       turn(G, "A cat.")]},
    {"id": "text-only", "conversations": [turn(H, "What is 2+2?"), turn(G, "4")]},
    {"id": "multi", "image": ["coco/a.jpg", "coco/b.jpg"],
     "conversations": [turn(H, "<image>\n<image>\nWhat differs?"), turn(G, "The colour.")]},
    {"id": "tag-at-end", "image": "coco/a.jpg", "conversations": [turn(H, "What is this?\n<image>"),
                                                                 turn(G, "A cat.")]},
    {"id": "tag-missing", "image": "coco/b.jpg", "conversations": [turn(H, "What is this?"), turn(G, "A dog.")]},
    {"id": "roles", "image": "coco/a.jpg", "conversations": [turn("user", "<image>\nColour?"),
                                                            turn("assistant", "Grey.")]},
    {"id": "system", "image": "coco/a.jpg", "conversations": [turn("system", "Be brief."), turn(H, "<image>\nHi"),
                                                             turn(G, "Hello.")]},
    {"id": 42, "image": "coco/b.jpg", "conversations": [turn(H, "<image>\nAgain?"), turn(G, "Yes.")]},
    # skipped
    {"id": "missing-file", "image": "coco/nope.jpg", "conversations": [turn(H, "<image>\nX?"), turn(G, "Y")]},
    {"id": "bad-role", "image": "coco/a.jpg", "conversations": [turn("bot", "<image>\nX?"), turn(G, "Y")]},
    {"id": "tag-no-image", "conversations": [turn(H, "<image>\nX?"), turn(G, "Y")]},
    {"id": "no-conv", "image": "coco/a.jpg", "conversations": []},
    {"id": "escape", "image": "../secret.jpg", "conversations": [turn(H, "<image>\nX?"), turn(G, "Y")]},
    {"id": "too-many-tags", "image": "coco/a.jpg", "conversations": [turn(H, "<image>\n<image>\nX?"), turn(G, "Y")]},
    {"id": "no-answer", "image": "coco/a.jpg", "conversations": [turn(H, "<image>\nX?")]},
]
EXPECTED = [
    "converted 9, skipped 7",
    "  skipped 1: <image> placeholder in a text-only sample (e.g. tag-no-image)",
    "  skipped 1: image file not found (e.g. missing-file)",
    "  skipped 1: image path leaves the image root (e.g. escape)",
    "  skipped 1: more <image> placeholders than images (e.g. too-many-tags)",
    "  skipped 1: no assistant turn (e.g. no-answer)",
    "  skipped 1: no conversations (e.g. no-conv)",
    "  skipped 1: unknown role 'bot' (e.g. bad-role)",
    "  note: 1 duplicate id(s) renamed with a '#n' suffix",
]


@pytest.fixture
def llava_root(tmp_path):
    imgs = tmp_path / "images"
    (imgs / "coco" / "train2017").mkdir(parents=True)
    for name in ("coco/train2017/000000033471.jpg", "coco/a.jpg", "coco/b.jpg"):
        (imgs / name).write_bytes(b"\xff\xd8\xff")
    return tmp_path


@pytest.mark.parametrize("layout", ["json", "jsonl"])
def test_every_variation_counts_and_messages(llava_root, layout):
    src = llava_root / f"llava.{layout}"
    if layout == "json":
        src.write_text(json.dumps(SAMPLES, indent=1))
    else:
        src.write_text("\n".join(json.dumps(s) for s in SAMPLES) + "\n")
    conv = convert_llava(src, images=llava_root / "images")
    assert conv.summary_lines() == EXPECTED
    recs = {r["id"]: r for r in conv.records}
    assert list(recs) == ["000000033471", "42", "text-only", "multi", "tag-at-end", "tag-missing", "roles",
                          "system", "42#2"]
    assert all(validate_record(r) == [] for r in conv.records)
    first = recs["000000033471"]
    assert first["images"] == [{"modality": "xray", "path": "coco/train2017/000000033471.jpg"}]
    assert [m["role"] for m in first["messages"]] == ["user", "assistant", "user", "assistant"]
    assert first["messages"][0]["content"] == "<xray>\nWhat are the colors of the bus in the image?"
    assert first["task"] == "vqa" and recs["42"]["task"] == "caption"
    assert recs["text-only"]["images"] == [] and "<xray>" not in recs["text-only"]["messages"][0]["content"]
    assert recs["multi"]["messages"][0]["content"] == "<xray>\n<xray>\nWhat differs?"
    assert len(recs["multi"]["images"]) == 2
    assert recs["tag-at-end"]["messages"][0]["content"] == "What is this?\n<xray>"
    assert recs["tag-missing"]["messages"][0]["content"] == "<xray>\nWhat is this?"
    assert [m["role"] for m in recs["roles"]["messages"]] == ["user", "assistant"]
    assert recs["system"]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_cli_writes_manifest_and_sidecar(llava_root, cli):
    src = llava_root / "llava.json"
    src.write_text(json.dumps(SAMPLES))
    out = llava_root / "out" / "llava.jsonl"
    r = cli("prepare", "llava", src, "--out", out, "--images", llava_root / "images")
    assert r.code == 0, r
    assert r.out.splitlines()[:len(EXPECTED)] == EXPECTED
    assert len(read_manifest(out)) == 9
    assert image_root(out).resolve() == (llava_root / "images").resolve()
    assert json.loads(sidecar_path(out).read_text())["image_root"] == "../images"
    r = cli("validate-data", out)
    assert r.code == 0, r
    # an option of another format is refused, not ignored
    r = cli("prepare", "llava", src, "--out", out, "--keep-text")
    assert r.code == 2 and "--keep-text does not apply to format 'llava'" in r.err


def test_no_image_check_keeps_missing(llava_root):
    src = llava_root / "l.json"
    src.write_text(json.dumps(SAMPLES[:1] + SAMPLES[9:10]))
    assert convert_llava(src, images=llava_root / "images", check_images=False).converted == 2


def test_broken_json_names_line(tmp_path, cli):
    src = tmp_path / "l.jsonl"
    src.write_text('{"id": 1, "conversations": []}\n{"id": 2,\n')
    r = cli("prepare", "llava", src, "--out", tmp_path / "o.jsonl")
    assert r.code == 2
    assert r.err.strip().startswith(f"error: {src}: line 2: invalid JSON")
    assert not (tmp_path / "o.jsonl").exists()
