"""Radiology reports (Findings / Impression, 所见 / 印象) from a small grammar.

Each positive finding gets one sentence drawn from several templates with synonyms and the
lesion's laterality, lobe and size; absent findings are negated in their own sentences ("No
pleural effusion or pneumothorax.", "双侧胸腔未见积液。"), so a sentence is either wholly positive
or wholly negative, which keeps reports easy to label. Sections (lungs, pleura, heart and
mediastinum, bones) are shuffled within and sometimes across. Radiograph reports speak of zones
and silhouettes, CT reports of lobes and attenuation; both name the lobe of a consolidation.

Template syntax: ``{slot}`` is filled first, then every ``[a|b|c]`` picks one option (``[x|]``
makes ``x`` optional).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from medmllm.data.text import format_report

from .report_phrases import EN, ZH

_CHOICE = re.compile(r"\[([^\[\]]*)\]")
_LOBES = {"en": {"RUL": "right upper lobe", "RML": "right middle lobe", "RLL": "right lower lobe",
                 "LUL": "left upper lobe", "LLL": "left lower lobe"},
          "zh": {"RUL": "右肺上叶", "RML": "右肺中叶", "RLL": "右肺下叶", "LUL": "左肺上叶", "LLL": "左肺下叶"}}
_SIZES = {"en": {"small": "small", "moderate": "moderate", "large": "large"},
          "zh": {"small": "少量", "moderate": "中等量", "large": "大量"}}
_SIDES = {"en": {"right": "right", "left": "left"}, "zh": {"right": "右", "left": "左"}}
_DIST = {"en": {"bilateral": "both lungs", "right": "the right lung", "left": "the left lung"},
         "zh": {"bilateral": "双肺", "right": "右肺", "left": "左肺"}}


def expand(template: str, rng: np.random.Generator, **slots: Any) -> str:
    """Fill ``{slots}``, then resolve ``[a|b]`` choices (innermost first) with ``rng``."""
    text = template.format(**slots)
    while True:
        m = _CHOICE.search(text)
        if m is None:
            break
        opts = m.group(1).split("|")
        text = text[: m.start()] + opts[int(rng.integers(len(opts)))] + text[m.end():]
    text = re.sub(r" {2,}", " ", text).replace(" ,", ",").replace(" .", ".").strip()
    return text[:1].upper() + text[1:]


def _slots(key: str, detail: dict[str, Any], lang: str, modality: str) -> dict[str, Any]:
    base, _, qual = key.partition(":")
    s: dict[str, Any] = {}
    if base == "consolidation":
        s["lobe"] = _LOBES[lang][qual]
        s["extent"] = detail["extent"]
        s["bronchogram"] = detail["air_bronchogram"]
        s["sign"] = "lingula" if detail.get("lingula") else qual
    elif base in ("bronchopneumonia", "ground_glass"):
        s["dist"] = _DIST[lang][detail["distribution"]]
    elif base in ("pleural_effusion", "pneumothorax"):
        s["side"] = _SIDES[lang][qual]
        s["size"] = _SIZES[lang][detail["size"]]
        if base == "pneumothorax":
            s["pct"] = int(5 * round((1 - detail["lung_fraction"]) * 20))
    elif base == "atelectasis":
        s["side"] = _SIDES[lang][detail["side"]]
    elif base == "cardiomegaly":
        s["ctr"] = f"{min(0.72, 0.45 * detail['scale']):.2f}"
    elif base == "nodule":
        s["lobe"] = _LOBES[lang][detail["lobe"]]
        s["d"] = int(detail["diameter_mm"])
    return s


def _positive(key: str, detail: dict[str, Any], lang: str, modality: str, rng: np.random.Generator) -> tuple[str, str]:
    """(findings sentence, impression phrase) of one positive finding."""
    bank = EN if lang == "en" else ZH
    base = key.partition(":")[0]
    slots = _slots(key, detail, lang, modality)
    entry = bank["positive"][base]
    if base == "consolidation":
        templates = entry[modality][slots["extent"]]
        extra = ""
        if slots["bronchogram"]:
            extra += expand(bank["air_bronchogram"], rng)
        if modality == "xray":
            extra += bank["silhouette"].get(slots["sign"], "")
        sentence = expand(templates[int(rng.integers(len(templates)))], rng, extra=extra, **slots)
    else:
        templates = entry[modality] if isinstance(entry, dict) else entry
        sentence = expand(templates[int(rng.integers(len(templates)))], rng, **slots)
    imp = bank["impression"][base]
    return sentence, expand(imp[int(rng.integers(len(imp)))], rng, **slots)


def _bilateral_effusion(details: dict[str, dict], lang: str, rng: np.random.Generator) -> tuple[str, str]:
    bank = EN if lang == "en" else ZH
    slots = {"size_r": _SIZES[lang][details["pleural_effusion:right"]["size"]],
             "size_l": _SIZES[lang][details["pleural_effusion:left"]["size"]]}
    t = bank["bilateral_effusion"]
    return expand(t[int(rng.integers(len(t)))], rng, **slots), expand(bank["bilateral_effusion_impression"], rng)


def make_report(findings: list, modality: str, lang: str, rng: np.random.Generator) -> dict[str, str]:
    """``{"findings": ..., "impression": ...}`` of one case for ``modality`` ('xray' or 'ct') in ``lang``."""
    if modality not in ("xray", "ct"):
        raise ValueError(f"modality must be 'xray' or 'ct', got {modality!r}")
    bank = EN if lang == "en" else ZH
    details = {f.key: f.detail for f in findings}
    keys = list(details)
    bases = {k.partition(":")[0] for k in keys}
    sections: dict[str, list[str]] = {"lungs": [], "pleura": [], "heart": [], "other": []}
    impressions: list[str] = []
    section_of = {"consolidation": "lungs", "bronchopneumonia": "lungs", "ground_glass": "lungs",
                  "atelectasis": "lungs", "nodule": "lungs", "hyperinflation": "lungs", "pleural_effusion": "pleura",
                  "pneumothorax": "pleura", "cardiomegaly": "heart"}
    both_effusions = "pleural_effusion:right" in details and "pleural_effusion:left" in details
    for key in keys:
        base = key.partition(":")[0]
        if both_effusions and base == "pleural_effusion":
            if key.endswith("left"):
                continue
            sentence, imp = _bilateral_effusion(details, lang, rng)
        else:
            sentence, imp = _positive(key, details[key], lang, modality, rng)
        sections[section_of[base]].append(sentence)
        impressions.append(imp)
    neg = bank["negative"]

    def pick(name: str) -> str:
        options = neg[name] if not isinstance(neg[name], dict) else neg[name][modality]
        return expand(options[int(rng.integers(len(options)))], rng)

    if not bases & {"consolidation", "bronchopneumonia", "ground_glass", "atelectasis", "nodule"}:
        sections["lungs"].append(pick("lungs_clear"))
    elif "consolidation" not in bases and rng.random() < 0.3:
        sections["lungs"].append(pick("no_consolidation"))
    if "nodule" not in bases and modality == "ct" and rng.random() < 0.4:
        sections["lungs"].append(pick("no_nodule"))
    has_eff, has_ptx = "pleural_effusion" in bases, "pneumothorax" in bases
    if not has_eff and not has_ptx:
        sections["pleura"].append(pick("no_effusion_no_ptx"))
    elif not has_eff:
        sections["pleura"].append(pick("no_effusion"))
    elif not has_ptx:
        sections["pleura"].append(pick("no_ptx"))
    if "cardiomegaly" not in bases:
        sections["heart"].append(pick("heart_normal"))
    if rng.random() < 0.6:
        sections["heart"].append(pick("mediastinum"))
    if "hyperinflation" not in bases and rng.random() < 0.3:
        sections["other"].append(pick("volumes_normal"))
    if rng.random() < 0.5:
        sections["other"].append(pick("bones"))
    order = ["lungs", "pleura", "heart", "other"]
    if rng.random() < 0.35:
        order = ["heart", "lungs", "pleura", "other"] if rng.random() < 0.5 else ["lungs", "heart", "pleura", "other"]
    sentences: list[str] = []
    for name in order:
        part = sections[name]
        sentences.extend(part[i] for i in rng.permutation(len(part)))
    joiner = " " if lang == "en" else ""
    if impressions:
        if len(impressions) > 1 and rng.random() < 0.5:
            impression = "\n".join(f"{i + 1}. {s}{bank['stop']}" for i, s in enumerate(impressions))
        else:
            rest = [s[:1].lower() + s[1:] if lang == "en" else s for s in impressions[1:]]
            impression = bank["impression_sep"].join([impressions[0], *rest]) + bank["stop"]
    else:
        impression = pick("impression_normal")
    return {"findings": joiner.join(sentences), "impression": impression}


def report_text(report: dict[str, str], lang: str) -> str:
    """The report as the assistant's answer: ``Findings: ...\\nImpression: ...`` / ``所见：...\\n印象：...``
    (:func:`medmllm.data.text.format_report` with a line break between the sections)."""
    return format_report(report, lang, sep="\n")
