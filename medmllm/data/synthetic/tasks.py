"""Task conversations of one case: reports, closed questions, diagnosis, inpatient summary.

Variants (``meta.variant`` in the manifest):
``report-xray``, ``report-ct``, ``report-both`` and the same with ``-context`` (the outpatient
record precedes the request); ``vqa-<n>`` (yes/no per finding key, or where a lateral finding is);
``diagnosis`` (images + outpatient record -> diagnoses); ``summary`` (inpatient record ->
summary; only for admitted patients). Images come first in the user turn as ``<xray>`` / ``<ct>``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from medmllm.findings import FINDING_KEYS

from .report_grammar import report_text

PROMPTS = {
    "en": {"xray": ["Write the radiology report for this chest radiograph.",
                    "Describe the findings of this chest X-ray and give an impression.",
                    "Please write a report (Findings and Impression) for this frontal chest radiograph.",
                    "Report this chest film.",
                    "What does this radiograph show? Give findings and impression.",
                    "Chest X-ray: findings and impression, please."],
           "ct": ["Write the radiology report for this chest CT.",
                  "Describe the findings of this chest CT scan and give an impression.",
                  "Please write a report (Findings and Impression) for this CT of the chest.",
                  "Report this CT.",
                  "What does this CT show? Give findings and impression.",
                  "Chest CT: findings and impression, please."],
           "both": ["Write one radiology report from the chest radiograph and the chest CT.",
                    "Describe the findings of this chest X-ray and chest CT, and give an impression.",
                    "Report these two chest studies together.",
                    "What do the radiograph and the CT show? Give findings and impression.",
                    "Chest X-ray and CT: one report, please.",
                    "Findings and impression for both images."],
           "context": "Clinical information:\n{record}\n\n",
           "diagnosis": "Clinical information:\n{record}\n\nWhat is the diagnosis?",
           "summary": "Summarise this inpatient record.\n\n{record}",
           "suffix": ["", " Answer yes or no."], "yes": "Yes", "no": "No", "stop": "."},
    "zh": {"xray": ["请根据这张胸部X线片书写影像学报告。", "请描述该胸片的影像所见并给出印象。", "胸片报告。"],
           "ct": ["请根据该胸部CT书写影像学报告。", "请描述该胸部CT的影像所见并给出印象。", "胸部CT报告。"],
           "both": ["请结合胸部X线片和胸部CT书写影像学报告。", "请综合两项检查给出影像所见和印象。"],
           "context": "临床资料：\n{record}\n\n",
           "diagnosis": "临床资料：\n{record}\n\n请结合影像和临床资料给出诊断。",
           "summary": "请总结以下住院病历。\n\n{record}",
           "suffix": ["", "请回答是或否。"], "yes": "是", "no": "否", "stop": "。"},
}

QUESTIONS = {
    "en": {"normal": "Is this study normal?", "consolidation": "Is there consolidation in the {where}?",
           "bronchopneumonia": "Are there features of bronchopneumonia?", "ground_glass": "Are there ground-glass opacities?",
           "pleural_effusion": "Is there a {where} pleural effusion?", "atelectasis": "Is there atelectasis?",
           "pneumothorax": "Is there a {where} pneumothorax?", "cardiomegaly": "Is the heart enlarged?",
           "hyperinflation": "Are the lungs hyperinflated?", "nodule": "Is there a pulmonary nodule?"},
    "zh": {"normal": "该检查是否正常？", "consolidation": "{where}是否有实变？", "bronchopneumonia": "是否有支气管肺炎表现？",
           "ground_glass": "是否有磨玻璃影？", "pleural_effusion": "{where}是否有胸腔积液？", "atelectasis": "是否有肺不张？",
           "pneumothorax": "{where}是否有气胸？", "cardiomegaly": "心影是否增大？", "hyperinflation": "是否有肺过度充气？",
           "nodule": "是否有肺结节？"},
}
_WHERE = {"en": {"RUL": "right upper lobe", "RML": "right middle lobe", "RLL": "right lower lobe",
                 "LUL": "left upper lobe", "LLL": "left lower lobe", "left": "left", "right": "right"},
          "zh": {"RUL": "右肺上叶", "RML": "右肺中叶", "RLL": "右肺下叶", "LUL": "左肺上叶", "LLL": "左肺下叶",
                 "left": "左侧", "right": "右侧"}}
_SIDE_Q = {"en": {"pleural_effusion": "Which side is the pleural effusion on?",
                  "pneumothorax": "Which side is the pneumothorax on?"},
           "zh": {"pleural_effusion": "胸腔积液位于哪一侧？", "pneumothorax": "气胸位于哪一侧？"}}
_SIDE_A = {"en": {"right": "Right", "left": "Left", "both": "Both sides"}, "zh": {"right": "右侧", "left": "左侧", "both": "双侧"}}
_IMG = {"xray": "<xray>\n", "ct": "<ct>\n", "both": "<xray>\n<ct>\n"}
_MODS = {"xray": ("xray",), "ct": ("ct",), "both": ("xray", "ct")}


@dataclasses.dataclass
class TaskSample:
    """One conversation: ``modalities`` says which of the case's images it shows, in placeholder order."""

    variant: str
    task: str
    modalities: tuple[str, ...]
    messages: list[dict[str, str]]
    answer: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


def _turns(user: str, assistant: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def _question(key: str, lang: str) -> str:
    base, _, qual = key.partition(":")
    return QUESTIONS[lang][base].format(where=_WHERE[lang].get(qual, ""))


def build_tasks(case: Any, lang: str, groups: tuple[str, ...], vqa_per_case: int,
                rng: np.random.Generator) -> list[TaskSample]:
    """Conversations of ``case`` (a :class:`~.case.Case`) in ``lang`` for the task ``groups``."""
    p = PROMPTS[lang]
    out: list[TaskSample] = []
    records = case.records[lang]
    if "report" in groups:
        for source in ("xray", "ct", "both"):
            answer = report_text(case.reports[lang][source], lang)
            # one draw in (wordings + 1): the extra one is no instruction at all (the images alone), so a
            # model learns to report whatever the request's wording, or none; with context, the first wording
            pick = int(rng.integers(len(p[source]) + 1))
            prompt = p[source][pick] if pick < len(p[source]) else ""
            out.append(TaskSample(f"report-{source}", "report", _MODS[source],
                                  _turns((_IMG[source] + prompt).rstrip("\n"), answer)))
            ctx = p["context"].format(record=records["outpatient"])
            out.append(TaskSample(f"report-{source}-context", "report", _MODS[source],
                                  _turns(_IMG[source] + ctx + (prompt or p[source][0]), answer)))
    if "vqa" in groups and vqa_per_case:
        out.extend(_vqa(case, lang, vqa_per_case, rng))
    if "diagnosis" in groups:
        dx = case.diagnoses[lang]
        answer = dx[0] + p["stop"] if len(dx) == 1 else "\n".join(f"{i + 1}. {d}" for i, d in enumerate(dx))
        out.append(TaskSample("diagnosis", "diagnosis", _MODS["both"],
                              _turns(_IMG["both"] + p["diagnosis"].format(record=records["outpatient"]), answer)))
    if "summary" in groups and records.get("inpatient"):
        out.append(TaskSample("summary", "summary", (), _turns(p["summary"].format(record=records["inpatient"]),
                                                               case.summaries[lang])))
    return out


def _vqa(case: Any, lang: str, n: int, rng: np.random.Generator) -> list[TaskSample]:
    p = PROMPTS[lang]
    positive = [k for k in FINDING_KEYS if case.labels[k] == 1]
    negative = [k for k in FINDING_KEYS if case.labels[k] == 0]
    out: list[TaskSample] = []
    lateral = {}
    for k in positive:
        base, _, side = k.partition(":")
        if base in _SIDE_Q[lang]:
            lateral[base] = "both" if base in lateral else side
    if lateral and n > 1:
        base = sorted(lateral)[int(rng.integers(len(lateral)))]
        mod = ("xray", "ct")[int(rng.integers(2))]
        ans = _SIDE_A[lang][lateral[base]]
        out.append(TaskSample(f"vqa-{len(out)}", "vqa", (mod,), _turns(_IMG[mod] + _SIDE_Q[lang][base], ans + p["stop"]),
                              answer=ans, meta={"question_key": base, "kind": "side"}))
    n_pos = min(len(positive), (n - len(out) + 1) // 2)
    chosen = [positive[i] for i in rng.permutation(len(positive))[:n_pos]]
    chosen += [negative[i] for i in rng.permutation(len(negative))[: n - len(out) - n_pos]]
    for i in rng.permutation(len(chosen)):
        key = chosen[int(i)]
        mod = ("xray", "ct")[int(rng.integers(2))]
        label = case.labels[key]
        ans = p["yes"] if label else p["no"]
        suffix = p["suffix"][int(rng.integers(len(p["suffix"])))]
        out.append(TaskSample(f"vqa-{len(out)}", "vqa", (mod,), _turns(_IMG[mod] + _question(key, lang) + suffix,
                                                                        ans + p["stop"]),
                              answer=ans, meta={"question_key": key, "kind": "yes_no", "label": label}))
    return out
