"""Text-rich releases in their own layouts: ICDAR 2019 LSVT, RCTW-17, AnyWord-3M, image-caption pairs
(WuKong style), mPLUG-Owl3's evaluation files and ShareGPT-4o's image conversations (through `llava`)."""

import json

import pytest
from PIL import Image

from medmllm.data.formats.anyword import convert_anyword
from medmllm.data.formats.icdar import convert_icdar_lsvt, convert_icdar_rctw
from medmllm.data.formats.image_text_pairs import caption_language, convert_image_text_pairs
from medmllm.data.formats.llava import convert_llava
from medmllm.data.formats.mplug_owl3 import convert_mplug_owl3_eval
from medmllm.data.formats.text_regions import box_1000
from medmllm.data.schema import validate_record
from medmllm.errors import InputError


def png(path, size=(200, 100)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 200, 200)).save(path)
    return path


def by_id(conv):
    for r in conv.records:
        assert validate_record(r) == [], r["id"]
    return {r["id"]: r for r in conv.records}


def lsvt_release(root):
    """train_full_labels.json + train_weak_labels.json; images split over the two full-image folders."""
    full = {
        "gt_0": [{"transcription": "一站式购物中心", "points": [[20, 60], [180, 60], [180, 90], [20, 90]],
                  "illegibility": False},
                 {"transcription": "营业", "points": [[10, 10], [50, 10], [50, 30], [10, 30]], "illegibility": False},
                 {"transcription": "###", "points": [[60, 10], [90, 10], [90, 20], [60, 20]], "illegibility": True}],
        "gt_1": [{"transcription": "###", "points": [[0, 0], [10, 0], [10, 10], [0, 10]], "illegibility": True}],
        "gt_2": [{"transcription": "无图", "points": [[0, 0], [10, 0], [10, 10], [0, 10]], "illegibility": False}],
    }
    weak = {"gt_5": [{"transcription": "老字号面馆"}]}
    (root / "train_full_labels.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "train_full_labels.json").write_text(json.dumps(full, ensure_ascii=False), encoding="utf-8")
    (root / "train_weak_labels.json").write_text(json.dumps(weak, ensure_ascii=False), encoding="utf-8")
    png(root / "train_full_images_0" / "gt_0.jpg")
    png(root / "train_full_images_1" / "gt_1.jpg")
    png(root / "train_weak_images_0" / "gt_5.jpg")
    return root


def test_lsvt_three_kinds_illegible_and_weak_labels(tmp_path):
    conv = convert_icdar_lsvt(lsvt_release(tmp_path / "LSVT"))
    recs = by_id(conv)
    read = recs["icdar-lsvt-gt_0-read"]
    assert read["answer"] == "营业\n一站式购物中心"  # reading order: top region first; ### left out
    assert read["images"] == [{"modality": "xray", "path": "train_full_images_0/gt_0.jpg"}]
    assert read["messages"][0]["content"] == "<xray>\nRead all the text in the image."
    assert read["messages"][1] == {"role": "assistant", "content": "营业\n一站式购物中心"}
    assert read["meta"]["benchmark"] == "ocr" and read["meta"]["ocr_task"] == "read"
    region = recs["icdar-lsvt-gt_0-region-1"]
    assert region["answer"] == "一站式购物中心" and region["meta"]["box_1000"] == [100, 600, 900, 900]
    assert "[100, 600, 900, 900]" in region["messages"][0]["content"]
    assert recs["icdar-lsvt-gt_0-question"]["answer"] == "一站式购物中心"  # the largest region
    weak = recs["icdar-lsvt-gt_5-question"]
    assert weak["answer"] == "老字号面馆" and weak["meta"]["weak_label"] is True
    assert not any(k.startswith("icdar-lsvt-gt_5-r") for k in recs)  # no location: no read/region record
    assert len(recs) == 5
    assert conv.skipped == {"text region: illegible (###)": 2, "image: no legible text": 1,
                            "image: image file not found": 1}
    assert conv.examples["image: image file not found"] == ["gt_2"]
    assert any("weak-label" in n for n in conv.notes)


def test_lsvt_task_choice_and_bad_option(tmp_path):
    conv = convert_icdar_lsvt(lsvt_release(tmp_path / "LSVT") / "train_full_labels.json", ocr_tasks="read")
    assert [r["id"] for r in conv.records] == ["icdar-lsvt-gt_0-read"]
    with pytest.raises(InputError, match="--ocr-tasks: 'spell' must name some of read, region, question"):
        convert_icdar_lsvt(tmp_path / "LSVT", ocr_tasks="spell")
    with pytest.raises(InputError, match="no LSVT labels"):
        convert_icdar_lsvt(tmp_path / "nowhere")


def test_rctw_lines_commas_difficult_and_bom(tmp_path):
    gts, imgs = tmp_path / "train_gts", tmp_path / "train_images"
    gts.mkdir()
    (gts / "image_0.txt").write_text(
        "\ufeff10,10,90,10,90,40,10,40,0,\"北京,朝阳\"\n"
        "10,50,190,50,190,90,10,90,0,\"人民医院\"\n"
        "100,10,120,10,120,20,100,20,1,\"模糊\"\n"
        "5,5,6,5,6,6,5,6,0,\"###\"\n"
        "not a line\n", encoding="utf-8")
    (gts / "image_1.txt").write_text("1,1,2,1,2,2,1,2,0,\"x\"\n", encoding="utf-8")
    png(imgs / "image_0.jpg")
    conv = convert_icdar_rctw(gts, images=imgs)
    recs = by_id(conv)
    assert recs["icdar-rctw-image_0-read"]["answer"] == "北京,朝阳\n人民医院"
    assert recs["icdar-rctw-image_0-question"]["answer"] == "人民医院"
    assert {recs[f"icdar-rctw-image_0-region-{i}"]["answer"] for i in range(2)} == {"北京,朝阳", "人民医院"}
    assert conv.skipped == {"text region: illegible (###)": 2, "text region: line is not x1,y1,...,y4,difficult,\"text\"": 1,
                            "image: image file not found": 1}
    # images found beside the ground truth's folder without --images
    assert convert_icdar_rctw(gts).image_root == tmp_path


def test_anyword_valid_language_and_image_folder(tmp_path):
    part = tmp_path / "AnyWord-3M" / "ocr_data" / "ReCTS"
    data = {"data_root": "/the/authors/machine/imgs", "data_list": [
        {"img_name": "train_ReCTS_000001.jpg", "caption": "a sign board",
         "annotations": [{"polygon": [[10, 10], [100, 10], [100, 40], [10, 40]], "text": "同仁堂", "language": "Chinese",
                          "valid": True, "pos": 1},
                         {"polygon": [[10, 50], [100, 50], [100, 80], [10, 80]], "text": "PHARMACY",
                          "language": "Latin", "valid": True},
                         {"polygon": [[1, 1], [2, 1], [2, 2], [1, 2]], "text": "tiny", "language": "Latin",
                          "valid": False},
                         {"polygon": [], "text": "nowhere", "language": "Latin"}]},
        {"img_name": "train_ReCTS_000002.jpg", "annotations": []},
        {"caption": "no name"}]}
    part.mkdir(parents=True)
    (part / "data.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    png(part / "imgs" / "train_ReCTS_000001.jpg")
    png(part / "imgs" / "train_ReCTS_000002.jpg")
    conv = convert_anyword(tmp_path / "AnyWord-3M")
    recs = by_id(conv)
    read = recs["anyword-ReCTS-train_ReCTS_000001-read"]
    assert read["answer"] == "同仁堂\nPHARMACY"
    assert read["images"][0]["path"] == "ocr_data/ReCTS/imgs/train_ReCTS_000001.jpg"
    assert read["meta"]["languages"] == ["Chinese", "Latin"] and read["meta"]["caption"] == "a sign board"
    assert conv.image_root == tmp_path / "AnyWord-3M"
    assert conv.skipped == {"text region: marked invalid (valid: false)": 1,
                            "text region: polygon missing or malformed": 1, "image: no legible text": 1,
                            "image: entry without img_name or annotations list": 1}
    with pytest.raises(InputError, match="data_list"):
        bad = tmp_path / "bad.json"
        bad.write_text("{}")
        convert_anyword(bad)


def test_box_1000_clamps_to_the_image():
    assert box_1000([(-5, 0), (250, 0), (250, 50), (-5, 50)], (200, 100)) == [0, 0, 1000, 500]


def test_image_text_pairs_csv_jsonl_parquet(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    png(tmp_path / "img" / "a.jpg")
    png(tmp_path / "img" / "b.jpg")
    (tmp_path / "wukong_0.csv").write_text(
        "path,caption\nimg/a.jpg,一只猫坐在窗台上\nimg/b.jpg,\nhttps://example.org/c.jpg,网上的图片\n"
        "img/missing.jpg,丢失的图片\n", encoding="utf-8")
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"image": "img/b.jpg", "text": "A dog on a sofa."}) + "\n",
                                          encoding="utf-8")
    pq.write_table(pa.table({"file_name": ["img/a.jpg"], "title": ["窗台上的猫 cat"]}), tmp_path / "more.parquet")
    conv = convert_image_text_pairs(tmp_path)
    recs = by_id(conv)
    assert len(recs) == 3
    cat = recs["pair-wukong_0-1"]
    assert cat["task"] == "caption" and cat["meta"]["language"] == "zh"
    assert cat["messages"] == [{"role": "user", "content": "<xray>\n请用一句话描述这张图片。"},
                               {"role": "assistant", "content": "一只猫坐在窗台上"}]
    assert recs["pair-pairs-1"]["messages"][0]["content"] == "<xray>\nDescribe the image in one sentence."
    assert recs["pair-more-1"]["meta"]["language"] == "zh"
    assert conv.skipped == {"empty caption": 1, "image file not found": 1,
                            "image is a URL (download the images first; medmllm fetches nothing)": 1}
    assert "caption languages: zh 2, en 1" in conv.notes
    (tmp_path / "odd.csv").write_text("url_only,words\nx,y\n", encoding="utf-8")
    with pytest.raises(InputError, match="no image column"):
        convert_image_text_pairs(tmp_path / "odd.csv")
    named = convert_image_text_pairs(tmp_path / "odd.csv", columns="image=url_only,caption=words",
                                     check_images=False)
    assert named.records[0]["messages"][1]["content"] == "y"


def test_caption_language():
    assert caption_language("一只猫 on the sofa") == "en"  # 3 CJK of 10 letters
    assert caption_language("窗台上的猫 cat") == "zh"
    assert caption_language("2024") == "en"


def test_mplug_owl3_eval_collection(tmp_path):
    ds = tmp_path / "dataset"
    (ds / "gqa").mkdir(parents=True)
    (ds / "gqa" / "testdev_balanced.jsonl").write_text(
        json.dumps({"image": "gqa/n1.jpg", "question": "What color is the bus?", "question_id": "201", "answer": "red"})
        + "\n", encoding="utf-8")
    (ds / "pope").mkdir()
    (ds / "pope" / "ImageQA_POPE_random.jsonl").write_text(
        json.dumps({"images": "coco/1.jpg", "query": "Is there a dog in the image?", "data_id": "p1", "answer": "yes"})
        + "\n", encoding="utf-8")
    (ds / "vizwiz").mkdir()
    (ds / "vizwiz" / "vizwiz_test.jsonl").write_text(
        json.dumps({"image": "vizwiz/v1.jpg", "question": "What is this?", "question_id": 7}) + "\n", encoding="utf-8")
    (ds / "mmvet").mkdir()
    (ds / "mmvet" / "mm-vet.json").write_text(json.dumps(
        {"v1_0": {"imagename": "v1_0.png", "question": "What is x?", "answer": "4<AND>four", "capability": ["math"]}}))
    (ds / "LongVideoBench").mkdir()
    (ds / "LongVideoBench" / "lvb_val.json").write_text("[]")
    for rel in ("gqa/n1.jpg", "coco/1.jpg", "vizwiz/v1.jpg", "v1_0.png"):
        png(tmp_path / "images" / rel)
    conv = convert_mplug_owl3_eval(ds, images=tmp_path / "images")
    recs = by_id(conv)
    gqa = recs["mplug-owl3-gqa-testdev_balanced-201"]
    assert gqa["messages"][0]["content"] == "<xray>\nWhat color is the bus? Answer the question using a single word or phrase."
    assert gqa["answer"] == "red" and gqa["meta"]["metric"] == "accuracy" and gqa["split"] == "test"
    pope = recs["mplug-owl3-pope-ImageQA_POPE_random-p1"]
    assert pope["images"][0]["path"] == "coco/1.jpg" and pope["meta"]["metric"] == "pope"
    viz = recs["mplug-owl3-vizwiz-vizwiz_test-7"]
    assert viz["answer"] is None and "respond with 'Unanswerable'" in viz["messages"][0]["content"]
    assert recs["mplug-owl3-mmvet-mm-vet-v1_0"]["meta"]["capability"] == ["math"]
    assert len(recs) == 4
    assert any("LongVideoBench" in n for n in conv.notes) and any("1 question(s) without an answer" in n
                                                                    for n in conv.notes)


def sharegpt4o_release(root):
    """ShareGPT-4o's image part: image_conversations/gpt-4o.jsonl, LLaVA turns, the image beside in images/."""
    (root / "image_conversations").mkdir(parents=True)
    rows = [{"image": "sa_10001.jpg", "conversations": [
        {"from": "human", "value": "<image>\nPlease describe the image in detail."},
        {"from": "gpt", "value": "A street market under red lanterns."}]},
        {"id": "4o-2", "image": "sa_10002.jpg", "conversations": [
            {"from": "human", "value": "What is written on the sign?\n<image>"},
            {"from": "gpt", "value": "Fresh noodles."}]}]
    (root / "image_conversations" / "gpt-4o.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    png(root / "images" / "sa_10001.jpg")
    png(root / "images" / "sa_10002.jpg")
    return root / "image_conversations" / "gpt-4o.jsonl"


def test_sharegpt4o_images_through_llava(tmp_path):
    conv = convert_llava(sharegpt4o_release(tmp_path / "ShareGPT-4o"), images=tmp_path / "ShareGPT-4o" / "images")
    recs = by_id(conv)
    first = recs["gpt-4o-1"]  # no id in the row: named by file and position
    assert first["task"] == "caption" and first["images"] == [{"modality": "xray", "path": "sa_10001.jpg"}]
    assert first["messages"][0]["content"] == "<xray>\nPlease describe the image in detail."
    assert recs["4o-2"]["task"] == "vqa" and recs["4o-2"]["messages"][0]["content"] == "What is written on the sign?\n<xray>"
    assert conv.num_skipped == 0 and "1 sample(s) without an id named <file>-<position>" in conv.notes
