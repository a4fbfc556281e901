"""ScienceQA, SEED-Bench, MME (both layouts) and MLLM-Bench converters on files in the published shapes."""

import json

from medmllm.data.schema import validate_record
from medmllm.evaluation.benchmarks.mcq import MCQ_INSTRUCTION
from medmllm.evaluation.benchmarks.mllm_bench.convert import convert_mllm_bench
from medmllm.evaluation.benchmarks.mme.convert import convert_mme
from medmllm.evaluation.benchmarks.scienceqa.convert import convert_scienceqa
from medmllm.evaluation.benchmarks.seed_bench.convert import convert_seed_bench


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG")
    return path


def problem(q, choices, answer, image, split, **kw):
    return {"question": q, "choices": choices, "answer": answer, "hint": kw.get("hint", ""), "image": image,
            "task": "closed choice", "grade": "grade8", "subject": "language science",
            "topic": "figurative-language", "category": "Literary devices", "skill": "s", "lecture": "l",
            "solution": "s", "split": split}


def test_scienceqa(tmp_path, cli):
    problems = {
        "5": problem("Which figure of speech is used in this text?", ["hyperbole", "euphemism"], 0, None, "test",
                     hint="Tom's in the doghouse."),
        "6": problem("Which animal is shown?", ["cat", "dog", "owl"], 2, "image.png", "test"),
        "7": problem("Which is heavier?", ["a", "b"], 1, "image.png", "train"),
        "8": problem("Which is it?", ["a", "b"], 5, None, "test"),
        "9": problem("Where?", ["a", "b"], 0, "image.png", "test"),  # image file missing
        "10": problem("Odd one?", ["a"], 0, None, "val"),
    }
    (tmp_path / "problems.json").write_text(json.dumps(problems))
    (tmp_path / "pid_splits.json").write_text(json.dumps(
        {"train": ["7"], "val": ["10"], "test": ["5", "6", "8", "9"], "minival": ["10"], "minitest": ["5"]}))
    touch(tmp_path / "images" / "test" / "6" / "image.png")
    touch(tmp_path / "images" / "train" / "7" / "image.png")
    conv = convert_scienceqa(tmp_path)
    assert conv.summary_lines() == [
        "converted 3, skipped 3",
        "  skipped 1: answer is not the index of a choice (e.g. 8)",
        "  skipped 1: choices are not a list of 2 or more options (e.g. 10)",
        "  skipped 1: image file not found (e.g. 9)",
    ]
    recs = {r["id"]: r for r in conv.records}
    r5, r6 = recs["scienceqa-5"], recs["scienceqa-6"]
    assert r5["messages"] == [{"role": "user", "content": "Context: Tom's in the doghouse.\n"
                               "Which figure of speech is used in this text?\nA. hyperbole\nB. euphemism\n"
                               + MCQ_INSTRUCTION}]
    assert r5["answer"] == "A" and r5["task"] == "mcq" and r5["images"] == [] and r5["split"] == "test"
    assert r5["meta"] == {"benchmark": "scienceqa", "pid": "5", "subject": "language science", "has_image": False,
                          "grade": "grade8", "topic": "figurative-language",
                          "question": "Which figure of speech is used in this text?", "hint": "Tom's in the doghouse."}
    assert r6["answer"] == "C" and r6["images"] == [{"modality": "xray", "path": "test/6/image.png"}]
    assert r6["messages"][0]["content"].startswith("<xray>\nWhich animal is shown?\nA. cat\nB. dog\nC. owl\n")
    assert recs["scienceqa-7"]["split"] == "train"
    assert all(validate_record(r) == [] for r in conv.records)
    only_test = convert_scienceqa(tmp_path / "problems.json", split="test")
    assert only_test.converted == 2 and only_test.skipped["not in the 'test' split"] == 2


def test_seed_bench(tmp_path):
    qs = [
        {"answer": "A", "choice_a": "2", "choice_b": "3", "choice_c": "4", "choice_d": "5",
         "data_id": "1454426_2591111986", "data_type": "image", "question": "How many towels are in the image?",
         "question_id": "101669", "question_type_id": 5},
        {"answer": "D", "choice_a": "a", "choice_b": "b", "choice_c": "c", "choice_d": "d",
         "data_id": "v123.mp4", "data_type": "video", "question": "What happens?", "question_id": "200001",
         "question_type_id": 10},
        {"answer": "E", "choice_a": "a", "choice_b": "b", "choice_c": "c", "choice_d": "d",
         "data_id": "x.jpg", "data_type": "image", "question": "Q?", "question_id": "3", "question_type_id": 1},
        {"answer": "B", "choice_a": "a", "choice_b": "b", "choice_c": "c", "choice_d": "d",
         "data_id": "gone.jpg", "data_type": "image", "question": "Q?", "question_id": "4", "question_type_id": 1},
    ]
    src = tmp_path / "SEED-Bench.json"
    src.write_text(json.dumps({"question_type": {"Scene Understanding": 1, "Instance Counting": 5,
                                                 "Action Recognition": 10}, "questions": qs}))
    touch(tmp_path / "img" / "1454426_2591111986")
    touch(tmp_path / "img" / "x.jpg")
    conv = convert_seed_bench(src, images=tmp_path / "img")
    assert conv.summary_lines() == [
        "converted 1, skipped 3",
        "  skipped 1: answer is not one of A, B, C, D (e.g. 3)",
        "  skipped 1: image file not found (e.g. 4)",
        "  skipped 1: video question (pass --include-video to keep) (e.g. 200001)",
    ]
    r = conv.records[0]
    assert r["id"] == "seed-bench-101669" and r["answer"] == "A" and r["choices"] == ["2", "3", "4", "5"]
    assert r["meta"] == {"benchmark": "seed-bench", "question_id": "101669", "question_type_id": 5,
                         "dimension": "Instance Counting", "data_type": "image",
                         "question": "How many towels are in the image?"}
    assert r["messages"][0]["content"] == ("<xray>\nHow many towels are in the image?\nA. 2\nB. 3\nC. 4\nD. 5\n"
                                           + MCQ_INSTRUCTION)
    with_video = convert_seed_bench(src, images=tmp_path / "img", include_video=True, check_images=False)
    assert with_video.converted == 3 and with_video.num_skipped == 1
    assert with_video.notes == ["1 video question(s) kept; medmllm does not decode video files"]


def test_mme_both_layouts(tmp_path, cli):
    root = tmp_path / "MME"
    touch(root / "existence" / "000000006040.jpg")
    (root / "existence" / "000000006040.txt").write_text(
        "Is there a train in this image? Please answer yes or no.\tYes\n"
        "Is there a bed in this image? Please answer yes or no.\tNo\n")
    touch(root / "artwork" / "images" / "10002.jpg")
    (root / "artwork" / "questions_answers_YN").mkdir()
    (root / "artwork" / "questions_answers_YN" / "10002.txt").write_text(
        "Is this artwork created by Vincent? Please answer yes or no.\tyes\n"
        "Is this artwork created by Pablo? Please answer yes or no.\tMaybe\n")
    (root / "artwork" / "questions_answers_YN" / "10003.txt").write_text("Q?\tYes\nQ2?\tNo\n")  # no image
    touch(root / "OCR" / "0001.png")
    (root / "OCR" / "0001.txt").write_text("No tab here\nWhat is written? Please answer yes or no.\tNo\n")
    (root / "eval_tool").mkdir()
    conv = convert_mme(root)
    assert conv.summary_lines()[:4] == [
        "converted 4, skipped 3",
        "  skipped 1: answer is not Yes or No (e.g. mme-artwork-10002-1)",
        "  skipped 1: image file not found (e.g. artwork/10003.txt)",
        "  skipped 1: line is not question<TAB>answer (e.g. mme-OCR-0001-0)",
    ]
    assert "  note: ignored folder(s) that are not MME subtasks: eval_tool" in conv.summary_lines()
    recs = {r["id"]: r for r in conv.records}
    e0 = recs["mme-existence-000000006040-0"]
    assert e0["images"] == [{"modality": "xray", "path": "existence/000000006040.jpg"}]
    assert e0["messages"] == [{"role": "user",
                               "content": "<xray>\nIs there a train in this image? Please answer yes or no."}]
    assert e0["answer"] == "Yes" and recs["mme-existence-000000006040-1"]["answer"] == "No"
    assert e0["meta"] == {"benchmark": "mme", "subtask": "existence", "image": "000000006040.jpg",
                          "question": "Is there a train in this image? Please answer yes or no."}
    a0 = recs["mme-artwork-10002-0"]
    assert a0["images"][0]["path"] == "artwork/images/10002.jpg" and a0["answer"] == "Yes"
    assert a0["meta"]["image"] == "10002.jpg"
    out = tmp_path / "mme.jsonl"
    r = cli("prepare", "mme", root, "--out", out)
    assert r.code == 0 and r.out.startswith("converted 4, skipped 3\n")
    assert cli("validate-data", out).code == 0


def test_mllm_bench(tmp_path):
    data = tmp_path / "data"
    touch(data / "images" / "1.jpg")
    (data / "questions.json").write_text(json.dumps([
        {"id": 1, "image_path": "images/1.jpg", "question": "What is unusual here?",
         "meta": {"level": "Perception", "capability": "General Object Recognition", "url": "u",
                  "question type": "open"}},
        {"id": 2, "image_path": "images/2.jpg", "question": "Why?", "meta": {}},
        {"id": 3, "question": "No image?", "meta": {}},
    ]))
    conv = convert_mllm_bench(tmp_path)
    assert conv.summary_lines() == ["converted 1, skipped 2", "  skipped 1: image file not found (e.g. 2)",
                                    "  skipped 1: no image_path (e.g. 3)"]
    r = conv.records[0]
    assert r["id"] == "mllm-bench-1" and r["task"] == "open" and r["answer"] is None
    assert r["images"] == [{"modality": "xray", "path": "images/1.jpg"}]
    assert r["messages"] == [{"role": "user", "content": "<xray>\nWhat is unusual here?"}]
    assert r["meta"] == {"benchmark": "mllm-bench", "question_id": "1", "level": "Perception",
                         "capability": "General Object Recognition", "question_type": "open",
                         "question": "What is unusual here?"}
    assert validate_record(r) == []
