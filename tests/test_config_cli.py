"""Config commands: dotted overrides without argparse patching, --print-config, the generated key reference."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_print_config_shows_every_key_resolved(cli):
    r = cli("train", "--config", ROOT / "configs" / "tiny.yaml", "--print-config", "--train.max_steps=7",
            "--pipeline.1.train.optim.lr", "3e-4")
    assert r.code == 0, r
    doc = yaml.safe_load(r.out)
    names = [s["name"] for s in doc["stages"]]
    assert names == ["align", "instruct"]
    align, instruct = doc["stages"]
    assert align["train"]["max_steps"] == 7 and instruct["train"]["optim"]["lr"] == 3e-4
    assert align["train"]["optim"]["lr"] == 1e-3  # the stage's preset, not the dataclass default
    assert align["data"]["transforms"]["augment"]["prob"] == 0.5  # defaults filled in
    assert align["model"]["max_length"] > 0 and "precision" in align["train"]


def test_unknown_words_are_usage_errors_but_overrides_are_not(cli):
    r = cli("train", "--config", ROOT / "configs" / "tiny.yaml", "--print-config", "--bogus")
    assert r.code == 2 and "unrecognized arguments: --bogus" in r.err
    r = cli("inspect", "x.dcm", "--train.max_steps=3")
    assert r.code == 2 and "unrecognized arguments: --train.max_steps=3" in r.err


def test_config_reference_is_up_to_date():
    from medmllm.config import reference_markdown

    committed = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert committed == reference_markdown(), "run: python scripts/config_reference.py"
    for key in ("`precision`", "`memory_cache_gb`", "`lr_encoders`", "`target_modules`", "`windows`"):
        assert key in committed
