import subprocess
import sys
import time

from medmllm.registry import Registry
from medmllm.errors import ConfigError
from medmllm.config import load_config, parse_overrides, config_hash
import pytest


def test_help_is_fast_and_lists_commands():
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "medmllm", "--help"], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    assert r.returncode == 0
    assert "info" in r.stdout
    assert dt < 1.5, f"medmllm --help took {dt:.2f}s"
    # no heavy library is imported by --help
    r = subprocess.run([sys.executable, "-c", "import sys; from medmllm.cli import build_parser; build_parser();"
                        "print(sorted(m for m in ('torch','transformers','monai','gradio','lightning') if m in sys.modules))"],
                       capture_output=True, text=True)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


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
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    with pytest.raises(ConfigError, match="expected --key.path=value"):
        parse_overrides(["--oops"])
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(tmp_path / "bad.yaml")
