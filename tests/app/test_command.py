"""`medmllm app`: flags, the default checkpoint, and one-line errors (the server itself is tested elsewhere)."""



def test_help_lists_the_flags(cli):
    r = cli("app", "--help")
    assert r.code == 0
    for flag in ("--checkpoint", "--host", "--port", "--auth", "--max-upload-mb", "--concurrency"):
        assert flag in r.out
    assert "127.0.0.1" in r.out


def test_no_quickstart_model_yet_is_one_clear_line(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDMLLM_QUICKSTART", raising=False)
    monkeypatch.setenv("MEDMLLM_CACHE", str(tmp_path / "cache"))
    r = cli("app")
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "make demo" in lines[0] and "--checkpoint" in lines[0]
    assert str(tmp_path / "cache" / "quickstart" / "export") in lines[0]


def test_bad_flags_are_input_errors(cli, tmp_path):
    r = cli("app", "--checkpoint", tmp_path / "missing")
    assert r.code == 2 and "checkpoint folder not found" in r.err
    r = cli("app", "--checkpoint", tmp_path, "--auth", "nopassword")
    assert r.code == 2 and "USER:PASS" in r.err
    r = cli("app", "--checkpoint", tmp_path, "--port", "70000")
    assert r.code == 2 and "--port" in r.err


def test_auth_and_default_locations(monkeypatch, tmp_path):
    from medmllm.commands.app import parse_auth, quickstart_export_dir

    assert parse_auth("alice:s3:cret") == ("alice", "s3:cret")
    assert parse_auth(None) is None
    monkeypatch.setenv("MEDMLLM_QUICKSTART", str(tmp_path / "q"))
    assert quickstart_export_dir() == tmp_path / "q"
    monkeypatch.delenv("MEDMLLM_QUICKSTART")
    monkeypatch.delenv("MEDMLLM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert quickstart_export_dir() == tmp_path / "xdg" / "medmllm" / "quickstart" / "export"


def test_serves_on_localhost_with_limits_queue_and_auth(cli, tmp_path, monkeypatch, app_tools):
    """`medmllm app --checkpoint DIR` builds the app and launches Gradio with safe settings."""
    import gradio as gr

    import medmllm.app.backend

    seen = {}
    monkeypatch.setattr(medmllm.app.backend, "PredictorBackend", lambda ckpt: app_tools.FakeBackend())
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.update(kw, blocks=self))
    r = cli("app", "--checkpoint", tmp_path, "--auth", "ana:pw", "--no-examples", "--max-upload-mb", "64")
    assert r.code == 0, r
    assert seen["server_name"] == "127.0.0.1" and seen["server_port"] == 7860 and seen["auth"] == ("ana", "pw")
    assert seen["max_file_size"] == "64mb" and seen["share"] is False and seen["run_history"] is False
    queue = seen["blocks"]._queue
    assert queue.max_size == 32 and queue.default_concurrency_limit == 1
    assert "http://127.0.0.1:7860" in r.out
