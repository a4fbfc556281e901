"""`make demo`'s short mode end to end: real assets, quickstart pipeline (tiny), held-out evaluation
with controls, reports for a held-out case and the real radiograph."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_demo_short_mode_end_to_end(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, DEMO_SHORT="1", DEMO_OUT=str(out), MEDMLLM_CACHE=str(tmp_path / "cache"),
               PY=sys.executable, OMP_WAIT_POLICY="PASSIVE")
    r = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # 1. previews of the real assets
    assert (out / "rg1_xray.png").stat().st_size > 1000 and (out / "ct_small.png").stat().st_size > 1000
    # 2. the three stages ran and exported; the final export is a loadable model folder
    run = out / "short" / "run"
    stages = sorted(p.name for p in run.iterdir() if p.is_dir() and p.name[:2].isdigit())
    assert stages == ["00-encoder", "01-report", "02-clinical"]
    assert (run / "export" / "medmllm.yaml").is_file()
    # 3. held-out evaluation: every prompt got a prediction, controls ran, the quality bar was computed
    preds = [json.loads(line) for line in (out / "eval" / "predictions.jsonl").read_text().splitlines()]
    prompts = (out / "heldout" / "report-both.jsonl").read_text().splitlines()
    assert len(preds) == len(prompts) == 24
    score = json.loads((out / "eval" / "score.json").read_text())
    f1 = score["clinical"]["findings"]["macro"]["f1"]
    assert 0.0 <= f1 <= 1.0 and score["n"] == 24
    results = json.loads((out / "eval" / "results.json").read_text())
    assert set(results["controls"]) >= {"shuffled_images", "constant_normal"}
    assert "Quality bar" in r.stdout and "control constant_normal" in r.stdout
    # 4. `medmllm generate` ran (exit 0 above) for the held-out case and for RG1
    assert "-- held-out case" in r.stdout and "-- RG1_UNCR.dcm" in r.stdout
