"""The prompt-robustness benchmark asks each row the way it says, and holds the right rows to the tolerance."""

import json

import pytest

from tests.conftest import load_script


def bench():
    return load_script("benchmarks/prompt_robustness.py")


def test_rows_over_the_tolerance_and_the_chinese_row_only_for_a_bilingual_model():
    over = bench().over_tolerance
    table = {"recorded": {"macro_f1": 0.83}, "write": {"macro_f1": 0.85}, "describe": {"macro_f1": 0.77},
             "chinese": {"macro_f1": 0.70}, "no instruction": {"macro_f1": 0.90}}
    assert over(table, 0.05, bilingual=False) == ["describe", "no instruction"]
    assert over(table, 0.05, bilingual=True) == ["describe", "chinese", "no instruction"]
    assert over(table, 0.2, bilingual=True) == []


@pytest.mark.parametrize("flag", ["--limit=0", "--batch-size=0", "--heldout=-1", "--tolerance=-0.1"])
def test_bad_numbers_are_refused_before_anything_loads(flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        bench().main(["--checkpoint", str(tmp_path / "none"), flag])
    assert e.value.code == 2 and flag.split("=")[0] in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


@pytest.mark.slow  # 2 synthetic cases, 6 rows of greedy 160-token reports and 6 score processes: ~35 s
def test_each_row_reads_its_own_wording_on_the_same_records(tiny_export, tmp_path):
    out = tmp_path / "rob"
    assert bench().main(["--checkpoint", str(tiny_export), "--heldout-dir", str(tmp_path / "held"), "--heldout", "2",
                         "--limit", "2", "--batch-size", "2", "--out", str(out)]) == 0
    doc = json.loads((out / "robustness.json").read_text())
    assert doc["n"] == 2 and doc["bilingual"] is False  # save_pretrained records no prompts: English defaults
    rows = doc["rows"]
    assert list(rows) == ["recorded", "write", "describe", "please", "chinese", "no instruction"]
    recorded = "Write one radiology report from the chest radiograph and the chest CT."
    assert rows["recorded"]["example_prompt"] == "<xray>\n<ct>\n" + recorded
    assert rows["describe"]["example_prompt"] == "<xray>\n<ct>\nDescribe the findings."
    assert rows["no instruction"]["example_prompt"] == "<xray>\n<ct>"
    for name in rows:
        written = [json.loads(x) for x in (out / f"{name.replace(' ', '_')}.jsonl").read_text().splitlines()]
        assert [r["id"] for r in written] == [r["id"] for r in [json.loads(x) for x in
                                                                  (out / "references.jsonl").read_text().splitlines()]]
        assert 0.0 <= rows[name]["macro_f1"] <= 1.0
