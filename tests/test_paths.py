from pathlib import Path

from medmllm.commands.app import quickstart_export_dir as app_default
from medmllm.data.synthetic_source import default_root
from medmllm.models.smollm2 import cache_root as smollm2_root
from medmllm.paths import cache_root, quickstart_export_dir


def test_one_cache_folder_for_every_part(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDMLLM_QUICKSTART", raising=False)
    monkeypatch.setenv("MEDMLLM_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    assert smollm2_root() == tmp_path / "c" / "smollm2" and default_root() == tmp_path / "c" / "synthetic"
    assert app_default() == quickstart_export_dir() == tmp_path / "c" / "quickstart" / "export"
    monkeypatch.delenv("MEDMLLM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert smollm2_root() == tmp_path / "x" / "medmllm" / "smollm2"
    monkeypatch.setenv("MEDMLLM_QUICKSTART", str(tmp_path / "qs"))
    assert app_default() == tmp_path / "qs"
    assert smollm2_root("~/elsewhere") == Path("~/elsewhere").expanduser()
