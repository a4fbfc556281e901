"""NLG metrics: identical to pycocoevalcap called directly; the r2gen cleaning and Chinese tokens."""

import pytest

from medmllm.evaluation import report_metrics
from medmllm.evaluation.report_metrics import METRIC_KEYS, evaluate_reports, score_reports
from medmllm.evaluation.report_text import r2gen_clean, zh_tokens

REFS = {
    "p1": "The heart is normal in size. The lungs are clear. No pleural effusion or pneumothorax.",
    "p2": "1. Right lower lobe consolidation. 2. Small right pleural effusion.",
    "p3": "XXXX XXXX are normal. There is a 2.5 cm nodule in the left upper lobe.",
    "p4": "Cardiomegaly with mild pulmonary edema; no focal consolidation.",
    "p5": "Stable ground-glass opacities (bilateral). Support lines in place.",
    "p6": "No acute cardiopulmonary abnormality.",
}
PREDS = {
    "p1": "Heart size is normal. Lungs are clear without effusion.",
    "p2": "Consolidation in the right lower lobe with a small effusion.",
    "p3": "Normal heart. Left upper lobe nodule, 2.5 cm.",
    "p4": "Mild cardiomegaly and pulmonary edema.",
    "p5": "Bilateral ground-glass opacity.",
    "p6": "No acute cardiopulmonary abnormality.",
}
ZH_REFS = {"z1": "右肺下叶实变，右侧少量胸腔积液。心影不大。", "z2": "双肺纹理清晰，未见明显实变。", "z3": "考虑支气管肺炎。"}
ZH_PREDS = {"z1": "右肺下叶见实变影，未见胸腔积液。", "z2": "双肺未见明显异常。", "z3": "支气管肺炎。"}


@pytest.fixture(scope="module")
def direct_meteor():
    """A pycocoevalcap ``Meteor`` object whose ``compute_score`` the tests call directly.

    It is the process's one METEOR JVM (starting a second one costs 10-20 s on a shared machine);
    the JVM keeps no state between EVAL requests, so sharing it does not weaken the comparison:
    the direct path builds its own ``gts``/``res`` and calls pycocoevalcap itself.
    """
    from pycocoevalcap.meteor.meteor import Meteor

    m = report_metrics.get_meteor()
    assert type(m) is Meteor
    return m


def _direct(gts, res, meteor=None):
    """pycocoevalcap's scorers called exactly as COCOEvalCap / R2Gen call them."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    bleu, bleu_each = Bleu(4).compute_score(gts, res)
    out = {f"bleu_{n + 1}": (bleu[n], bleu_each[n]) for n in range(4)}
    out["rouge_l"] = Rouge().compute_score(gts, res)
    out["cider"] = Cider().compute_score(gts, res)
    if meteor is not None:
        out["meteor"] = meteor.compute_score(gts, res)
    return out


def _assert_same(scores, direct, ids):
    for key, (corpus, each) in direct.items():
        assert scores.summary[key] == pytest.approx(float(corpus), rel=0, abs=1e-12), key
        assert [s[key] for s in scores.samples] == pytest.approx([float(x) for x in each], rel=0, abs=1e-12), key
    assert [s["id"] for s in scores.samples] == ids


@pytest.mark.slow
def test_coco_protocol_matches_pycocoevalcap(direct_meteor):
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    ids = list(REFS)
    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": REFS[i]}] for i in ids})
    res = tok.tokenize({i: [{"caption": PREDS[i]}] for i in ids})
    direct = _direct(gts, res, direct_meteor)
    scores = evaluate_reports(PREDS, REFS, protocol="coco", lang="en")
    _assert_same(scores, direct, ids)
    assert 0 < scores.summary["bleu_1"] < 1 and 0 < scores.summary["meteor"] < 1
    assert scores.samples[ids.index("p6")]["bleu_4"] == pytest.approx(1.0)  # identical report


@pytest.mark.slow
def test_r2gen_protocol_matches_pycocoevalcap(direct_meteor):
    ids = list(REFS)
    gts = {i: [r2gen_clean(REFS[i])] for i in ids}
    res = {i: [r2gen_clean(PREDS[i])] for i in ids}
    direct = _direct(gts, res, direct_meteor)
    scores = evaluate_reports(PREDS, REFS, protocol="r2gen", lang="en")
    _assert_same(scores, direct, ids)
    # the protocols prepare text differently, so at least one metric differs
    coco = score_reports(PREDS, REFS, protocol="coco")
    assert any(coco[k] != scores.summary[k] for k in METRIC_KEYS)


@pytest.mark.slow
def test_one_meteor_jvm_per_process():
    score_reports(PREDS, REFS, protocol="r2gen")
    first = report_metrics.get_meteor()
    pid = first.meteor_p.pid
    score_reports(PREDS, REFS, protocol="coco", uncertain="negative")
    assert report_metrics.get_meteor() is first and first.meteor_p.pid == pid


@pytest.mark.parametrize("protocol", ["coco", "r2gen"])
def test_chinese_uses_character_tokens_and_no_meteor(protocol):
    ids = list(ZH_REFS)
    out = evaluate_reports(ZH_PREDS, ZH_REFS, protocol=protocol, lang="zh")
    s = out.summary
    assert s["meteor"] is None and "Chinese" in s["notes"]["meteor"]
    if protocol == "r2gen":
        gts = {i: [r2gen_clean(ZH_REFS[i], "zh")] for i in ids}
        res = {i: [r2gen_clean(ZH_PREDS[i], "zh")] for i in ids}
        _assert_same(out, _direct(gts, res), ids)
    assert s["bleu_1"] > 0.3  # shared characters; a word-level split would share almost nothing
    assert s["lang"] == "zh" and s["n"] == 3


def test_r2gen_cleaning_by_hand():
    assert r2gen_clean("1. Stable cardiomegaly. 2. Small right pleural effusion.") == \
        "stable cardiomegaly . small right pleural effusion ."
    assert r2gen_clean("The heart is normal in size.. No ground-glass opacity; lungs clear!") == \
        "the heart is normal in size . no groundglass opacity lungs clear ."
    assert r2gen_clean("Nodule measures 2.5 cm (stable).") == "nodule measures 25 cm stable ."
    assert r2gen_clean("XXXX XXXX are normal.\nNo effusion") == "xxxx xxxx are normal . no effusion ."
    assert r2gen_clean("Left  PICC\r\nline \"in place\" / ok.") == "left picc line in place ok ."
    assert r2gen_clean("") == "" and r2gen_clean(" . . ") == ""
    assert r2gen_clean("右肺下叶实变。未见积液！", "zh") == "右 肺 下 叶 实 变 . 未 见 积 液 ."


def test_chinese_tokens_by_hand():
    assert zh_tokens("右肺下叶见5mm结节，CT复查。") == "右 肺 下 叶 见 5mm 结 节 ct 复 查"
    assert zh_tokens("") == ""


def test_ptb_tokenizer_keeps_alignment_with_odd_line_breaks():
    from medmllm.evaluation.report_text import ptb_tokenize

    out = ptb_tokenize({("r", "a"): "Heart\rsize normal.", ("r", "b"): "", ("r", "c"): "Last\u2028one, here."})
    assert out == {("r", "a"): "heart size normal", ("r", "b"): "", ("r", "c"): "last one here"}


def test_bad_arguments():
    with pytest.raises(ValueError, match="ids differ"):
        score_reports({"a": "x"}, {"b": "y"}, protocol="r2gen", lang="zh")
    with pytest.raises(ValueError, match="nothing to score"):
        score_reports({}, {}, protocol="r2gen", lang="zh")
    with pytest.raises(ValueError, match="longer than"):
        score_reports({"a": "x " * 30_000}, {"a": "x"}, protocol="r2gen", lang="zh")
    with pytest.raises(ValueError, match="protocol"):
        score_reports({"a": "x"}, {"a": "x"}, protocol="bleu")


def test_missing_java_is_one_clear_error(monkeypatch):
    from medmllm.evaluation import java

    monkeypatch.setattr(java.shutil, "which", lambda name: None)
    with pytest.raises(java.JavaNotFoundError, match="PTB tokenizer.*needs Java.*openjdk"):
        score_reports({"a": "Cardiomegaly."}, {"a": "Cardiomegaly."}, protocol="coco", lang="zh")
