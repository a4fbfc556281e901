import subprocess
import sys

from medmllm.registry import Registry
from medmllm.errors import ConfigError
from medmllm.config import load_config, parse_overrides, config_hash
import pytest


def test_help_lists_commands_without_heavy_imports():
    """--help must stay fast (< 1.5 s): it imports no heavy library (timed in benchmarks/cli_bench.py)."""
    r = subprocess.run([sys.executable, "-m", "medmllm", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for cmd in ("info", "inspect", "train", "generate", "evaluate", "app"):
        assert cmd in r.stdout
    probe = ("import sys\nfrom medmllm.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('torch','transformers','monai','gradio','lightning','numpy','pydicom') "
             "if m in sys.modules), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert r.stderr.strip().splitlines()[-1] == "[]", r.stderr


def test_unknown_command_is_usage_error(cli):
    r = cli("no-such-command")
    assert r.code == 2


def test_info_lists_versions(cli):
    r = cli("info", "--json")
    assert r.code == 0
    import json
    info = json.loads(r.out)
    assert info["versions"]["torch"].startswith("2.13.0")
    assert set(info["components"]) == {"encoders", "connectors", "llms", "formats", "benchmarks", "stages"}


def test_registry_unknown_lists_valid_and_patterns():
    reg = Registry("widget")

    @reg.register("a")
    def a(x=1):
        return ("a", x)

    @reg.register(r"mlp(?P<depth>\d+)x_gelu", pattern=True)
    def mlp(depth, width=8):
        return ("mlp", depth, width)

    assert reg.build("a", x=3) == ("a", 3)
    assert reg.build("mlp3x_gelu", width=4) == ("mlp", 3, 4)
    with pytest.raises(ConfigError, match="unknown widget 'b'; valid: a"):
        reg.build("b")
    with pytest.raises(ConfigError, match="unexpected keyword"):
        reg.build("a", y=2)


def test_config_overrides_and_base(tmp_path):
    (tmp_path / "base.yaml").write_text("model:\n  llm: {name: tiny, hidden: 32}\nseed: 1\n")
    (tmp_path / "c.yaml").write_text("base: base.yaml\nseed: 2\npipeline: [{stage: align}, {stage: instruct}]\n")
    cfg = load_config(tmp_path / "c.yaml", ["--model.llm.hidden=64", "--pipeline.1.max_steps=5", "--x.y=[1, 2]"])
    assert cfg["model"]["llm"] == {"name": "tiny", "hidden": 64}
    assert cfg["seed"] == 2 and cfg["pipeline"][1]["max_steps"] == 5 and cfg["x"]["y"] == [1, 2]
    assert parse_overrides(["--a=1e-3", "--b=2E+2", "--c=e5", "--d=1.5"]) == [("a", 1e-3), ("b", 200.0), ("c", "e5"), ("d", 1.5)]
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    with pytest.raises(ConfigError, match="expected --key.path=value"):
        parse_overrides(["--oops"])
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(tmp_path / "bad.yaml")
