"""Outpatient and inpatient records, diagnoses and a discharge summary, in English and Chinese.

Everything is written from the language-neutral facts of :mod:`.clinical_facts` and the findings,
so the two languages tell the same story. The inpatient record quotes the radiology impression.
"""

from __future__ import annotations

from typing import Any

from medmllm.data.text import age_text  # noqa: F401 (the records' age wording; re-exported)

from .population import Finding

_LOBE = {"en": {"RUL": "right upper lobe", "RML": "right middle lobe", "RLL": "right lower lobe",
                "LUL": "left upper lobe", "LLL": "left lower lobe"},
         "zh": {"RUL": "右肺上叶", "RML": "右肺中叶", "RLL": "右肺下叶", "LUL": "左肺上叶", "LLL": "左肺下叶"}}
_SIDE = {"en": {"right": "right", "left": "left", "both": "both"}, "zh": {"right": "右", "left": "左", "both": "双"}}

_SYMPTOM = {
    "en": {"cough": "cough", "productive_cough": "cough with sputum", "tachypnoea": "fast breathing",
           "wheeze": "wheezing", "chest_pain": "chest pain", "sudden_dyspnoea": "sudden shortness of breath",
           "fatigue": "tiredness with feeds and play", "runny_nose": "runny nose"},
    "zh": {"cough": "咳嗽", "productive_cough": "咳嗽、咳痰", "tachypnoea": "气促", "wheeze": "喘息",
           "chest_pain": "胸痛", "sudden_dyspnoea": "突发呼吸困难", "fatigue": "易疲乏、活动耐力下降",
           "runny_nose": "流涕"},
}
_TREATMENT = {
    "en": {"ceftriaxone": "intravenous ceftriaxone", "amoxicillin_clavulanate": "oral amoxicillin-clavulanate",
           "azithromycin": "azithromycin", "supportive": "supportive care (fluids, antipyretics)",
           "salbutamol": "nebulised salbutamol", "oxygen": "supplemental oxygen by nasal cannula",
           "thoracentesis": "diagnostic and therapeutic thoracentesis", "chest_drain": "chest drain insertion",
           "observation": "observation with oxygen", "echocardiography": "referral for echocardiography",
           "follow_up_ct": "a follow-up CT in 3 months", "symptomatic": "symptomatic treatment"},
    "zh": {"ceftriaxone": "头孢曲松静脉抗感染", "amoxicillin_clavulanate": "口服阿莫西林克拉维酸钾",
           "azithromycin": "阿奇霉素抗支原体", "supportive": "补液、退热等对症支持", "salbutamol": "沙丁胺醇雾化",
           "oxygen": "鼻导管吸氧", "thoracentesis": "胸腔穿刺抽液", "chest_drain": "胸腔闭式引流",
           "observation": "吸氧观察", "echocardiography": "转诊行心脏超声检查", "follow_up_ct": "3个月后复查胸部CT",
           "symptomatic": "对症治疗"},
}


def diagnoses(findings: list[Finding], facts: dict[str, Any], patient: dict[str, Any], lang: str) -> list[str]:
    """Discharge (or outpatient) diagnoses, most important first."""
    keys = [f.key for f in findings]
    detail = {f.key: f.detail for f in findings}
    out: list[str] = []
    lobes = [k.partition(":")[2] for k in keys if k.startswith("consolidation:")]
    zh = lang == "zh"
    if lobes:
        where = ("、" if zh else " and ").join(_LOBE[lang][lo] for lo in lobes)
        out.append(f"社区获得性肺炎（大叶性，{where}）" if zh else f"Community-acquired lobar pneumonia ({where})")
    if "bronchopneumonia" in keys:
        out.append("支气管肺炎" if zh else "Bronchopneumonia")
    if "ground_glass" in keys and not lobes:
        if facts["etiology"] == "mycoplasma":
            out.append("肺炎支原体肺炎" if zh else "Mycoplasma pneumoniae pneumonia")
        else:
            out.append("病毒性肺炎" if zh else "Viral pneumonia")
    sides = [k.partition(":")[2] for k in keys if k.startswith("pleural_effusion:")]
    if sides:
        side = "both" if len(sides) == 2 else sides[0]
        kind = ("类肺炎性" if zh else "parapneumonic ") if facts["etiology"] else ""
        out.append(f"{_SIDE['zh'][side]}侧{kind}胸腔积液" if zh else f"{side.capitalize()} {kind}pleural effusion"
                   .replace("Both", "Bilateral"))
    if "atelectasis" in keys:
        s = detail["atelectasis"]["side"]
        out.append(f"{_SIDE['zh'][s]}下肺盘状肺不张" if zh else f"Plate-like atelectasis, {s} lower lobe")
    for k in keys:
        if k.startswith("pneumothorax:"):
            s = k.partition(":")[2]
            out.append(f"{_SIDE['zh'][s]}侧自发性气胸" if zh else f"Spontaneous {s} pneumothorax")
    if "hyperinflation" in keys:
        asthma = patient["age_months"] >= 24
        out.append(("支气管哮喘急性发作" if asthma else "毛细支气管炎") if zh else
                   ("Acute asthma exacerbation" if asthma else "Acute bronchiolitis"))
    if "cardiomegaly" in keys:
        out.append("心影增大（待心脏超声评估）" if zh else "Cardiomegaly, for echocardiographic assessment")
    if "nodule" in keys:
        d = detail["nodule"]
        out.append(f"{_LOBE['zh'][d['lobe']]}结节（建议随访）" if zh else
                   f"Pulmonary nodule, {_LOBE['en'][d['lobe']]} (follow-up recommended)")
    if not out:
        out.append("急性上呼吸道感染" if zh else "Acute upper respiratory tract infection")
    return out


def outpatient_record(patient: dict[str, Any], facts: dict[str, Any], lang: str) -> str:
    """Chief complaint, history, examination with vitals and SpO2, and the plan."""
    v, zh = facts["vitals"], lang == "zh"
    sym = [_SYMPTOM[lang][s] for s in facts["symptoms"]]
    sex = ("男" if patient["sex"] == "M" else "女") if zh else ("boy" if patient["sex"] == "M" else "girl")
    age = age_text(patient["age_months"], lang)
    fd, cd = facts["fever_days"], facts["cough_days"]
    side = facts["crackles_side"]
    if zh:
        cc = "，".join(([f"发热{fd}天"] if fd else []) + ([f"咳嗽{cd}天"] if cd else [])
                      + [s for s in sym if s not in ("咳嗽", "咳嗽、咳痰")][:2]) or "体检"
        hpi = (f"患儿{fd}天前出现发热，最高体温{facts['max_temp']}℃。" if fd else "患儿无发热。") + \
              (f"伴{'、'.join(sym)}。" if sym else "")
        lung = (f"{_SIDE['zh'][side]}肺可闻及湿啰音" if side else "双肺呼吸音清")
        lung += "，可闻及哮鸣音" if "wheeze" in facts["symptoms"] else ""
        return (f"门诊病历\n患儿，{sex}，{age}，体重{patient['weight_kg']}kg。\n主诉：{cc}。\n现病史：{hpi}\n"
                f"查体：T {v['temp']}℃，HR {v['hr']}次/分，R {v['rr']}次/分，SpO2 {v['spo2']}%（未吸氧）。{lung}。\n"
                f"处理：完善胸部X线及胸部CT检查。")
    parts = ([f"fever for {fd} day{'s' if fd != 1 else ''}"] if fd else []) + \
            ([f"cough for {cd} day{'s' if cd != 1 else ''}"] if cd else []) + \
            [s for s in sym if s not in ("cough", "cough with sputum")][:2]
    cc = (", ".join(parts) or "routine check").capitalize()
    hpi = (f"Fever began {fd} day{'s' if fd != 1 else ''} ago, highest {facts['max_temp']} °C." if fd
           else "No fever.") + (f" Associated {', '.join(sym)}." if sym else "")
    lung = ("crackles over both lungs" if side == "both" else f"crackles over the {side} chest") if side \
        else "clear breath sounds"
    lung += ", expiratory wheeze" if "wheeze" in facts["symptoms"] else ""
    return (f"Outpatient record\nPatient: {age} old {sex}, {patient['weight_kg']} kg.\nChief complaint: {cc}.\n"
            f"History: {hpi}\nExamination: T {v['temp']} °C, HR {v['hr']}/min, RR {v['rr']}/min, "
            f"SpO2 {v['spo2']}% on room air; {lung}.\nPlan: chest radiograph and chest CT.")


def inpatient_record(patient: dict[str, Any], facts: dict[str, Any], impression: str, dx: list[str], lang: str) -> str | None:
    """Admission labs, imaging impression, treatment, course and discharge diagnoses (None if not admitted)."""
    if not facts["admitted"]:
        return None
    impression = _one_line(impression)
    lab, zh = facts["labs"], lang == "zh"
    tx = [_TREATMENT[lang][t] for t in facts["treatment"]]
    stay, afeb = facts["stay_days"], facts["afebrile_day"]
    dx_list = "\n".join(f"{i + 1}. {d}" for i, d in enumerate(dx))
    if zh:
        labs = (f"血常规：WBC {lab['wbc']}×10^9/L，中性粒细胞{lab['neut']}%；CRP {lab['crp']} mg/L；"
                f"降钙素原 {lab['pct']} ng/mL" + ("；肺炎支原体IgM阳性" if lab["mycoplasma_igm"] else "") + "。")
        course = (f"入院第{afeb}天体温降至正常，" if afeb else "") + ("咳嗽逐渐减轻，" if facts["cough_days"] else "症状好转，") + \
                 ("复查血氧饱和度正常，" if facts["vitals"]["spo2"] < 94 else "") + f"住院{stay}天，病情好转出院。"
        return (f"住院病历\n入院情况：{age_text(patient['age_months'], 'zh')}患儿，因“{_cc_zh(facts)}”入院。\n"
                f"辅助检查：{labs}\n影像学检查：{impression}\n诊疗经过：予{'、'.join(tx)}。\n转归：{course}\n"
                f"出院诊断：\n{dx_list}")
    labs = (f"WBC {lab['wbc']} x10^9/L (neutrophils {lab['neut']}%), CRP {lab['crp']} mg/L, "
            f"procalcitonin {lab['pct']} ng/mL" + ("; Mycoplasma pneumoniae IgM positive" if lab["mycoplasma_igm"] else "")
            + ".")
    course = (f"Afebrile from hospital day {afeb}; " if afeb else "") + \
        ("cough improved" if facts["cough_days"] else "symptoms improved") + \
             ("; SpO2 normal on room air before discharge" if facts["vitals"]["spo2"] < 94 else "") + \
             f". Discharged on day {stay} in good condition."
    return (f"Inpatient record\nAdmission: {age_text(patient['age_months'], 'en')} old, admitted with "
            f"{_cc_en(facts)}.\nLabs on admission: {labs}\nImaging: {impression}\nTreatment: {'; '.join(tx)}.\n"
            f"Course: {course}\nDischarge diagnoses:\n{dx_list}")


def _one_line(text: str) -> str:
    """A numbered multi-line impression as one line."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _cc_en(facts: dict[str, Any]) -> str:
    fd = facts["fever_days"]
    s = [_SYMPTOM["en"][x] for x in facts["symptoms"][:2]]
    return ", ".join(([f"{fd} days of fever"] if fd else []) + s) or "respiratory symptoms"


def _cc_zh(facts: dict[str, Any]) -> str:
    fd = facts["fever_days"]
    s = [_SYMPTOM["zh"][x] for x in facts["symptoms"][:2]]
    return "，".join(([f"发热{fd}天"] if fd else []) + s) or "呼吸道症状"


def discharge_summary(patient: dict[str, Any], facts: dict[str, Any], impression: str, dx: list[str], lang: str) -> str:
    """A short summary of the inpatient stay (the answer of the summary task)."""
    tx = [_TREATMENT[lang][t] for t in facts["treatment"]]
    impression = _one_line(impression)
    if lang == "zh":
        sex = "男" if patient["sex"] == "M" else "女"
        return (f"{age_text(patient['age_months'], 'zh')}{sex}童，因{_cc_zh(facts)}入院。影像：{impression.rstrip('。')}。"
                f"予{'、'.join(tx)}，住院{facts['stay_days']}天好转出院。诊断：{'；'.join(dx)}。")
    sex = "boy" if patient["sex"] == "M" else "girl"
    return (f"{age_text(patient['age_months'], 'en')} old {sex} admitted with {_cc_en(facts)}. Imaging: "
            f"{impression.rstrip('.')}. Treated with {'; '.join(tx)}; discharged after {facts['stay_days']} days "
            f"in good condition. Diagnoses: {'; '.join(dx)}.")
