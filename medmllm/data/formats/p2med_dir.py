"""P2Med-MD-style hospital export: one folder per case with ``xray/``, ``ct/``, ``report.txt``, ``record.json``.

The report is split into findings / impression by its section headers (``Findings:`` /
``Impression:``, or 所见 / 印象 / 诊断, with ASCII or full-width colons); its language is ``zh``
when it contains Chinese characters. The CT series and the X-ray are chosen by the rule in
:mod:`medmllm.data.formats.p2med_pick`; what was picked is logged and kept in ``meta.picked``.
Identifiers are scrubbed from report and record text unless ``keep_text`` is set; a patient id
from ``record.json`` is stored only as a hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

from medmllm.data.formats.common import CT, XRAY, Conversion, hash_split
from medmllm.data.formats.p2med_pick import ct_candidates, parse_views, pick_ct, pick_xrays
from medmllm.data.formats.scrub import scrub_text
from medmllm.data.formats.sections import split_sections
from medmllm.data.schema import SPLITS, new_record
from medmllm.errors import InputError
from medmllm.registry import FORMATS

log = logging.getLogger(__name__)

_HEADERS = {
    "findings": r"findings?|影像所见|检查所见|所见|表现|影像表现",
    "impression": r"impressions?|conclusions?|诊断意见|影像诊断|印象|诊断|结论|意见",
}
_SECTION = re.compile(r"(?im)(?:^|(?<=[\s。.;；]))(?:(?P<findings>" + _HEADERS["findings"] + r")|(?P<impression>"
                      + _HEADERS["impression"] + r"))[ \t]*[:：][ \t]*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
NOT_IMAGES = (".txt", ".json", ".xml", ".csv", ".md", ".pdf", ".html", ".htm")
MAX_AGE_MONTHS = 90 * 12  # ages above 89 years are identifying (HIPAA): capped
PROMPT = {"en": "Write the radiology report.", "zh": "请撰写放射学报告。"}
LABELS = {"en": ("Findings", "Impression"), "zh": ("所见", "印象")}


def parse_report(text: str) -> tuple[dict[str, str], bool]:
    """``{"findings", "impression", "language"}`` and whether section headers were found."""
    parts: dict[str, list[str]] = {"findings": [], "impression": []}
    preamble, sections = split_sections(text, _SECTION, lambda m: "findings" if m.group("findings") else "impression")
    if not sections:
        parts["findings"].append(preamble)
    for name, body in sections:
        parts[name].append(body)
    lang = "zh" if _CJK.search(text) else "en"
    sep = "" if lang == "zh" else " "
    return {"findings": sep.join(p for p in parts["findings"] if p),
            "impression": sep.join(p for p in parts["impression"] if p), "language": lang}, bool(sections)


def report_prompt(patient: dict[str, Any] | None, records: dict[str, str] | None, lang: str,
                  placeholders: str) -> str:
    """The user turn of a report sample: placeholders, patient facts, clinical records, the request."""
    lines = [placeholders.rstrip("\n")] if placeholders else []
    p = patient or {}
    if p.get("age_months") is not None or p.get("sex"):
        age = p.get("age_months")
        sex = {"F": ("female", "女"), "M": ("male", "男")}.get(str(p.get("sex", "")).upper()[:1], ("", ""))
        if lang == "zh":
            a = f"{age // 12}岁{age % 12}月" if isinstance(age, int) else ""
            lines.append("患者：" + "，".join(x for x in (a, sex[1]) if x) + "。")
        else:
            a = f"{age // 12} years {age % 12} months old" if isinstance(age, int) else ""
            lines.append("Patient: " + ", ".join(x for x in (a, sex[0]) if x) + ".")
    names = {"outpatient": ("Outpatient record", "门诊病历"), "inpatient": ("Inpatient record", "住院病历")}
    for key, (en, zh) in names.items():
        if records and records.get(key):
            lines.append(f"{zh if lang == 'zh' else en}{'：' if lang == 'zh' else ': '}{records[key]}")
    lines.append(PROMPT[lang])
    return "\n".join(lines)


def _labels(raw: Any, conv: Conversion) -> dict[str, Any] | None:
    if isinstance(raw, list):
        raw = {str(k): 1 for k in raw}
    if not isinstance(raw, dict):
        return None
    out = {str(k): v for k, v in raw.items() if v in (0, 1, -1, None) and not isinstance(v, bool)}
    if len(out) < len(raw):
        conv.notes.append("dropped label value(s) that are not 1, 0, -1 or null")
    return out or None


def _split(value: Any, default: str | None, patient: str) -> str:
    if value in SPLITS:
        return value
    if default in (None, "auto"):  # deterministic 80/10/10 by patient: no patient in two splits
        return hash_split(patient)
    return default


@FORMATS.register("p2med-dir")
def convert_p2med_dir(src: str | Path, *, split: str | None = None, keep_text: bool = False,
                      ct_series: str | None = None, ct_prefer: str = "most-slices",
                      xray_view: str | None = None) -> Conversion:
    """Convert a folder of hospital case folders.

    Args:
        src: the folder holding one folder per case.
        split: split for cases whose ``record.json`` has none (default ``auto``: 80/10/10 by a
            hash of the patient, so no patient is in two splits).
        keep_text: keep report and record text as is (no identifier scrubbing).
        ct_series: SeriesInstanceUID or SeriesNumber to use where a case has it.
        ct_prefer: ``most-slices`` (default) or ``thinnest`` as the second criterion after axial.
        xray_view: comma-separated view order (default ``PA,AP,LATERAL``) or ``all``.

    Returns:
        The records and the count of skipped cases per reason.
    """
    src = Path(src)
    if not src.is_dir():
        raise InputError(src, "expected a folder holding one folder per case")
    if ct_prefer not in ("most-slices", "thinnest"):
        raise InputError(None, f"--ct-prefer: '{ct_prefer}' is not most-slices or thinnest")
    views = parse_views(xray_view)
    conv = Conversion(image_root=src)
    scrubbed: Counter = Counter()
    chose = Counter()
    for case in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        cid = case.name
        report_file = case / "report.txt"
        rec_file = case / "record.json"
        xray_files = sorted(p for p in (case / "xray").rglob("*") if p.is_file() and not p.name.startswith(".")
                            and p.suffix.lower() not in NOT_IMAGES) if (case / "xray").is_dir() else []
        if not report_file.is_file() and not rec_file.is_file() and not xray_files and not (case / "ct").is_dir():
            conv.skip("not a case folder (no report.txt, record.json, xray/ or ct/)", cid)
            continue
        try:
            record = json.loads(rec_file.read_text(encoding="utf-8-sig")) if rec_file.is_file() else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            conv.skip("record.json is not valid JSON", cid)
            continue
        if not isinstance(record, dict):
            conv.skip("record.json is not a JSON object", cid)
            continue
        try:
            text = report_file.read_text(encoding="utf-8-sig").strip() if report_file.is_file() else ""
        except UnicodeDecodeError:
            conv.skip("report.txt is not UTF-8 text", cid)
            continue
        if not text:
            conv.skip("no report.txt (or it is empty)", cid)
            continue
        cands = ct_candidates(case / "ct") if (case / "ct").is_dir() else []
        ct, ct_why = pick_ct(cands, series=ct_series, prefer=ct_prefer)
        xrays, xr_why = pick_xrays(xray_files, views=views)
        if ct is None and not xrays:
            conv.skip("no readable X-ray or CT", cid)
            continue
        chose["ct"] += len(cands) > 1
        chose["xray"] += len(xray_files) > 1
        log.info("%s: %s; %s", cid, xr_why, ct_why)
        report, had_headers = parse_report(text)
        if not had_headers:
            conv.notes.append(f"{cid}: no section headers in report.txt; the whole text is the findings")
        records = {k: record[k] for k in ("outpatient", "inpatient", "diagnosis")
                   if isinstance(record.get(k), str) and record[k].strip()}
        if not keep_text:
            for d in (report, records):
                for k in [k for k in d if k != "language"]:
                    d[k], n = scrub_text(d[k])
                    scrubbed.update(n)
        lang = report["language"]
        patient = {k: record[k] for k in ("age_months", "sex", "weight_kg") if record.get(k) is not None}
        if isinstance(patient.get("age_months"), (int, float)):
            patient["age_months"] = int(min(patient["age_months"], MAX_AGE_MONTHS))
        pid = "p-" + hashlib.sha256(str(record["patient_id"]).encode()).hexdigest()[:12] \
            if record.get("patient_id") not in (None, "") else cid
        images = [{"modality": "xray", "path": f.relative_to(src).as_posix(), **({"view": v} if v else {})}
                  for f, v in xrays]
        if ct is not None:
            rel = ct.path.relative_to(src).as_posix() + ("/" if ct.format == "dicom-series" else "")
            images.append({"modality": "ct", "path": rel, "format": ct.format,
                           **({"series": ct.uid} if ct.shares_folder and ct.uid else {})})
        ph = f"{XRAY}\n" * len(xrays) + (f"{CT}\n" if ct is not None else "")
        fl, il = LABELS[lang]
        colon = "：" if lang == "zh" else ": "
        answer = "\n".join(f"{name}{colon}{report[k]}" for name, k in ((fl, "findings"), (il, "impression"))
                           if report[k])
        conv.records.append(new_record(
            id=cid, patient_id=pid, split=_split(record.get("split"), split, pid), task="report",
            images=images, patient=patient or None,
            records={k: v for k, v in records.items() if k != "diagnosis"} or None, report=report,
            labels=_labels(record.get("labels"), conv),
            messages=[{"role": "user", "content": report_prompt(patient, records, lang, ph)},
                      {"role": "assistant", "content": answer}],
            meta={"source": "p2med-dir", "picked": {"xray": xr_why, "ct": ct_why},
                  **({"diagnosis": records["diagnosis"]} if "diagnosis" in records else {})}))
    for what, n in chose.items():
        if n:
            conv.notes.append(f"{what}: picked by the rule in {n} case(s) with several candidates (see meta.picked)")
    if scrubbed:
        conv.notes.append("scrubbed identifiers: " + ", ".join(f"{k} {v}" for k, v in sorted(scrubbed.items())))
    elif keep_text:
        conv.notes.append("text kept as is (--keep-text): identifiers were not scrubbed")
    notes = Counter(conv.notes)
    conv.notes = [n if c == 1 else f"{n} (x{c})" for n, c in notes.items()]
    return conv
