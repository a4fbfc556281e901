#!/usr/bin/env bash
# The embedded default, end to end (what `make demo` runs after the set-up):
#   1. real DICOM assets: inspect + previews
#   2. the quickstart pipeline (synthetic cases -> encoder pretraining -> report -> clinical stage),
#      skipped when its export already exists in the cache folder
#   3. held-out evaluation on cases of another seed, with the two controls, and the quality bar
#   4. a report for one held-out case and for the real chest radiograph
#   5. the Gradio app on 127.0.0.1 (Ctrl-C stops it)
# DEMO_SHORT=1: a short mode (tiny sizes, a few steps, its own folders; no app) for CI and the tests.
# DEMO_NO_APP=1: everything but the app.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY="${PY:-.venv/bin/python}"
OUT="${DEMO_OUT:-demo-out}"
SHORT="${DEMO_SHORT:-0}"
mkdir -p "$OUT"
MM="$PY -m medmllm"

echo "== 1. Real assets: a chest radiograph and a CT slice (previews in $OUT/)"
XRAY=$($PY -c "from pydicom.data import get_testdata_file as g; print(g('RG1_UNCR.dcm'))")
CT=$($PY -c "from pydicom.data import get_testdata_file as g; print(g('CT_small.dcm'))")
$PY -m medmllm inspect "$XRAY" --preview "$OUT/rg1_xray.png"
$PY -m medmllm inspect "$CT" --preview "$OUT/ct_small.png"

echo "== 2. Quickstart training"
OVR=()
if [ "$SHORT" = "1" ]; then
  RUN="$OUT/short/run"
  EXPORT="$RUN/export"
  HELD_CASES=24
  OVR=(--model.llm.corpus.synthetic.cases=100 --model.llm.vocab_size=512
       --data.train.0.synthetic.cases=48 --data.train.0.synthetic.xray_size=[64,64]
       --data.val.0.synthetic.cases=8
       --pipeline.0.train.max_steps=4 --pipeline.1.train.max_steps=8 --pipeline.2.train.max_steps=2
       --pipeline.0.train.val_every_n_steps=4 --pipeline.1.train.val_every_n_steps=8
       --pipeline.2.train.val_every_n_steps=2
       --model.modalities.xray.encoder.image_size=64 --train.eval.clinical_subset=4
       --train.eval.max_new_tokens=32)
else
  EXPORT=$($PY -c "from medmllm.commands.app import quickstart_export_dir as q; print(q())")
  RUN="$(dirname "$EXPORT")"
  HELD_CASES=300
fi
if [ -f "$EXPORT/medmllm.yaml" ]; then
  echo "quickstart export found: $EXPORT (delete $RUN to train again)"
elif [ -f "$RUN/config.yaml" ]; then
  echo "continuing the interrupted quickstart run in $RUN"
  $MM train --resume "$RUN"
else
  START=$(date +%s)
  $MM train --config configs/quickstart.yaml --train.run_dir="$RUN" "${OVR[@]}"
  echo "quickstart training took $(( $(date +%s) - START )) s"
fi

echo "== 3. Held-out evaluation: $HELD_CASES cases of seed 7 (never seen in training), X-ray + CT, no clinical text"
HELD="$OUT/heldout"
XS=128; [ "$SHORT" = "1" ] && XS=64
[ -f "$HELD/manifest.jsonl" ] || $MM synth --out "$HELD" --cases "$HELD_CASES" --seed 7 --lang en --tasks report \
  --xray-size "$XS" --overwrite
$PY - "$HELD" <<'PY'
import json, sys
from pathlib import Path
held = Path(sys.argv[1])
rows = [json.loads(l) for l in (held / "manifest.jsonl").read_text().splitlines() if l.strip()]
keep = [r for r in rows if r["meta"].get("variant") == "report-both"]
(held / "report-both.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))
print(f"{len(keep)} held-out report prompts (images only) in {held / 'report-both.jsonl'}")
PY
$MM evaluate --checkpoint "$EXPORT" --benchmark report --data "$HELD/report-both.jsonl" --out "$OUT/eval" \
  --batch-size 32 --max-new-tokens 160 --protocol r2gen
$MM score --predictions "$OUT/eval/predictions.jsonl" --references "$HELD/report-both.jsonl" \
  --out "$OUT/eval/score.json" --protocol r2gen --plot "$OUT/eval/per_label_f1.png" > "$OUT/eval/score.md"
$PY - "$OUT/eval" <<'PY'
import json, sys
from pathlib import Path
ev = Path(sys.argv[1])
score = json.loads((ev / "score.json").read_text())
res = json.loads((ev / "results.json").read_text())
f1 = score["clinical"]["findings"]["macro"]["f1"]
print(f"\nQuality bar (labels the labeler reads in the generated reports vs the cases' labels):")
print(f"  model                     macro-F1 {f1:.3f}")
for name, c in (res.get("controls") or {}).items():
    cf = c.get("clinical", {}).get("findings", {}).get("macro", {}).get("f1")
    if cf is not None:
        print(f"  control {name:<17} macro-F1 {cf:.3f}")
print(f"  (bar: 0.80; full tables: {ev / 'results.md'}, {ev / 'score.md'})")
PY

echo "== 4. Reports for one held-out case and for the real chest radiograph"
CASE_X=$($PY -c "import json,sys; r=json.loads(open('$HELD/report-both.jsonl').readline()); print('$HELD/'+[i['path'] for i in r['images'] if i['modality']=='xray'][0])")
CASE_CT=$($PY -c "import json,sys; r=json.loads(open('$HELD/report-both.jsonl').readline()); print('$HELD/'+[i['path'] for i in r['images'] if i['modality']=='ct'][0])")
echo "-- held-out case ($CASE_X + CT):"
$MM generate --checkpoint "$EXPORT" --xray "$CASE_X" --ct "$CASE_CT" --prompt "Write one radiology report from the chest radiograph and the chest CT." --max-new-tokens 160
echo "-- RG1_UNCR.dcm (a real adult PA radiograph; the quickstart model only knows synthetic children):"
$MM generate --checkpoint "$EXPORT" --xray "$XRAY" --prompt "Write the radiology report for this chest radiograph." --max-new-tokens 160

if [ "$SHORT" = "1" ] || [ "${DEMO_NO_APP:-0}" = "1" ]; then
  echo "== 5. App (skipped): medmllm app --checkpoint $EXPORT"
  exit 0
fi
echo "== 5. The report app on http://127.0.0.1:7860 (Ctrl-C to stop)"
exec $PY -m medmllm app --checkpoint "$EXPORT"
