"""The labeler on real report language: failure classes, the MeSH reference, and the held-out quality bar."""

import sys
from pathlib import Path

import pytest
from labeler_cases import flat_labels
from labeler_failure_classes import FAILURE_CLASSES

from medmllm.evaluation.labeler import label_report
from medmllm.findings import CHEXPERT_LABELS, FINDING_KEYS

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import iu_reference as ref


@pytest.mark.parametrize("cls, lang, text, expected", FAILURE_CLASSES,
                         ids=[f"{c}-{lang}-{i}" for i, (c, lang, _, _) in enumerate(FAILURE_CLASSES)])
def test_failure_classes(cls, lang, text, expected):
    assert set(expected) <= set(CHEXPERT_LABELS) | set(FINDING_KEYS) | {"possible"}
    flat = flat_labels(label_report(text, lang))
    assert {k: flat[k] for k in expected} == expected


def test_failure_classes_cover_both_languages():
    classes = {c for c, _, _, _ in FAILURE_CLASSES}
    for c in classes - {"over_call", "vocabulary"}:
        assert {lang for k, lang, _, _ in FAILURE_CLASSES if k == c} == {"en", "zh"}, c


def test_mesh_mapping():
    assert ref.reference(["Pleural Effusion/right/small"])["Pleural Effusion"] == 1
    assert ref.reference(["Costophrenic Angle/left/blunted"])["Pleural Effusion"] == 1
    assert ref.reference(["Costophrenic Angle/bilateral"])["Pleural Effusion"] == 0
    assert ref.reference(["Pulmonary Atelectasis/base/left"]) == {**{o: 0 for o in ref.OBSERVATIONS},
                                                                  "Atelectasis": 1, "Lung Opacity": 1}
    assert ref.reference(["Opacity/lung/base/left"])["Lung Opacity"] == 1
    assert ref.reference(["Opacity/ribs/right"])["Lung Opacity"] == 0  # outside the lung
    assert ref.reference(["Opacity/ribs/right"])["No Finding"] == 1
    assert ref.reference(["Mass/breast/large"])["Lung Lesion"] == 0
    assert ref.reference(["Pulmonary Congestion/mild"])["Edema"] == 1
    assert ref.reference(["Thickening/pleura/apex/left"])["No Finding"] == 0  # Pleural Other is a pathology
    assert ref.reference(["normal"])["No Finding"] == 1
    assert ref.reference(["Calcified Granuloma/lung/upper lobe/left", "Spine/degenerative"])["No Finding"] == 1


@pytest.mark.parametrize("page", ["docs/labeler.md", "README.md"])
def test_mesh_mapping_is_written_out_in_the_docs(page):
    doc = (Path(__file__).resolve().parents[2] / page).read_text(encoding="utf-8")
    scored = set(ref.OBSERVATIONS)
    for desc, _, obs in ref.MESH_MAP:
        if page == "docs/labeler.md" or scored & set(obs):
            assert desc in doc, desc


def test_keyword_baseline_is_naive():
    assert ref.keyword_baseline("No pneumothorax.")["Pneumothorax"] == 0
    assert ref.keyword_baseline("Small right pneumothorax.")["Pneumothorax"] == 1
    # the failure the labeler fixes: a negation word far before the keyword still counts
    assert ref.keyword_baseline("Lungs are clear. Heart is normal.")["No Finding"] == 1
    assert ref.keyword_baseline("Possible pneumonia; no effusion.")["Pneumonia"] == 1


def test_f1_of_an_observation_without_positives():
    assert ref.Score().f1 == 1.0  # nothing to find, nothing found (a small part may lack an observation)
    assert ref.Score(fp=2).f1 == 0.0
    assert ref.Score(tp=1, fp=1, fn=0).f1 == 2 / 3


def test_bench_refuses_a_file_that_is_not_a_report_set(tmp_path, capsys):
    import labeler_bench

    for text, msg in (("", "no indexed report with text"), ("garbage\n", "not a report set"),
                      ('{"id": 1}\n', "not a report set")):
        f = tmp_path / "set.jsonl"
        f.write_text(text, encoding="utf-8")
        assert labeler_bench.main(["--data", str(f)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(f) in err and msg in err, err


def test_split_is_fixed_by_id():
    ids = [str(i) for i in range(2000)]
    parts = [ref.part_of(i) for i in ids]
    assert parts == [ref.part_of(i) for i in ids]
    assert 0.45 < parts.count("tuning") / len(parts) < 0.55


def test_report_text_reads_both_sections():
    assert ref.report_text({"findings": "Clear lungs.", "impression": ""}) == "FINDINGS: Clear lungs."
    assert ref.report_text({"findings": "", "impression": "Normal."}) == "IMPRESSION: Normal."
    assert ref.report_text({"findings": None, "impression": None}) == ""


_SHARED = ref.shared_dir()
needs_shared = pytest.mark.skipif(not _SHARED.is_dir(), reason=f"no shared data folder ({_SHARED}); set MEDMLLM_SHARED")


def _heldout_scores():
    reports, skipped = ref.load_reports()
    assert len(reports) > 1000 and skipped["No Indexing"] > 0
    heldout = [r for r in reports if r.part == "heldout"]
    assert 0.4 < len(heldout) / len(reports) < 0.6
    lab = ref.score(heldout, ref.labeler_predict)
    base = ref.score(heldout, ref.keyword_baseline)
    table = {o: (round(lab[o].f1, 3), round(base[o].f1, 3)) for o in ref.OBSERVATIONS}
    return lab, base, table


@needs_shared
def test_heldout_part_no_observation_below_the_keyword_baseline():
    lab, base, table = _heldout_scores()
    assert all(lab[o].f1 >= base[o].f1 for o in ref.OBSERVATIONS), table
    assert ref.macro_f1(lab) >= ref.macro_f1(base) + 0.05, table


@needs_shared
def test_heldout_part_meets_the_quality_bar():
    """Issue 18's bar: held-out macro-F1 >= 0.85 with uncertain counted positive (labeler v4: 0.877; v3 was
    0.841, when every hedge was uncertain), and a regression floor just under the measured level."""
    lab, _, table = _heldout_scores()
    assert ref.macro_f1(lab) >= 0.85, table
    assert ref.macro_f1(lab) >= 0.87, table


@needs_shared
def test_hedge_strengths_follow_the_human_indexing():
    """The two hedge strengths of v4, checked on the tuning part: a probable reading (-1) is mostly indexed by
    MeSH, a possibility raised (listed under "possible", no label) almost never is."""
    reports, _ = ref.load_reports()
    counts = ref.hedge_counts([r for r in reports if r.part == "tuning"])
    (p_hit, p_all), (s_hit, s_all) = counts["probable"], counts["possible"]
    assert s_all >= 30 and s_hit / s_all <= 0.05, counts  # measured: 0 of 36
    assert p_all >= 20 and p_hit / p_all >= 0.75, counts  # measured: 22 of 26
