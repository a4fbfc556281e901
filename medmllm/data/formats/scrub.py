"""Scrub identifiers from free report / record text (English and Chinese).

Replaced with a bracketed tag, per class: names after a title (Mr, Mrs, Ms, Miss, Dr, Prof) or a
label (Name:, Patient:, 姓名, 患者/患儿 followed by a common surname), dates, phone numbers, ID and
record numbers (labelled ones such as MRN / 住院号 / 病历号, Chinese ID-card numbers, and any bare
run of 6 or more digits), and addresses (labelled ones, English street addresses, Chinese
province/city/road addresses). It errs on the side of removing too much; ``--keep-text`` turns it off.
"""

from __future__ import annotations

import re
from collections import Counter

TAGS = {"name": "[NAME]", "date": "[DATE]", "phone": "[PHONE]", "id": "[ID]", "address": "[ADDRESS]"}

_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_CAP = r"[A-Z][a-zA-Z'\-]+"
# The 100 commonest Chinese surnames (a name after 患者/患儿 must start with one).
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
             "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
# Clinical words that start with a surname character and must not be taken for names.
_NOT_NAMES = ("高热", "高烧", "黄疸", "白细胞", "方面", "石灰", "龙骨", "向上", "史无", "于今")

_RULES: list[tuple[str, re.Pattern[str], str]] = [
    # (class, pattern, replacement: group 1 is kept as the label before the tag)
    ("id", re.compile(r"((?:MRN|MR\s?#|Medical Record(?: Number| No\.?)?|Record (?:Number|No\.?)|Patient ID|"
                      r"Hospital (?:Number|No\.?)|Accession(?: Number| No\.?)?|ID(?: Number| No\.?)?|SSN)"
                      r"\s*[:#]?\s*)[A-Za-z]*\d[\w\-]*", re.I), r"\1[ID]"),
    ("id", re.compile(r"((?:病历号|住院号|门诊号|病案号|检查号|登记号|影像号|身份证号?|医保号|ID号|卡号)\s*[:：]?\s*)[A-Za-z0-9\-]+"),
     r"\1[ID]"),
    ("phone", re.compile(r"((?:Tel|Phone|Mobile|Telephone|电话|手机|联系电话|联系方式)\.?\s*[:：]?\s*)\+?[\d\-\s()]{6,}\d",
                         re.I), r"\1[PHONE]"),
    ("address", re.compile(r"((?:Address|Addr\.?|住址|地址|家住|现住址?)\s*[:：]?\s*)[^\n,;，。；]+", re.I), r"\1[ADDRESS]"),
    ("address", re.compile(r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|"
                           r"Boulevard|Blvd|Way|Court|Ct|Place|Pl)\b"), "[ADDRESS]"),
    ("address", re.compile(r"[\u4e00-\u9fff]{2,8}(?:省|自治区|市)[\u4e00-\u9fff0-9]{0,24}?(?:路|街|巷|弄|村|小区)"
                           r"(?:[0-9一二三四五六七八九十]+号)?"), "[ADDRESS]"),
    ("date", re.compile(r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|\b\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})\b(?!\.?\d)"),
     "[DATE]"),
    ("date", re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS},?\s+\d{{4}}\b|\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?"
                        rf"\s+\d{{4}}\b"), "[DATE]"),
    ("date", re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?|\d{1,2}\s*月\s*\d{1,2}\s*日"), "[DATE]"),
    ("phone", re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d{9}(?!\d)|\(?\b\d{3}\)?[\s.\-]\d{3}[\s.\-]\d{4}\b|"
                         r"\b0\d{2,3}-\d{7,8}\b"), "[PHONE]"),
    ("id", re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)|(?<![\d.])\d{6,}(?![\d.])"), "[ID]"),
    ("name", re.compile(rf"\b((?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+){_CAP}(?:\s+{_CAP})?"), r"\1[NAME]"),
    ("name", re.compile(rf"\b((?:Patient(?: name)?|Name|Pt)\s*:\s*){_CAP}(?:\s+{_CAP}){{0,2}}", re.I), r"\1[NAME]"),
    ("name", re.compile(r"(姓名\s*[:：]?\s*)[\u4e00-\u9fff·]{2,4}"), r"\1[NAME]"),
]
_ZH_PATIENT = re.compile(rf"((?:患者|患儿|病人)\s*[:：]?\s*)([{_SURNAMES}][\u4e00-\u9fff]{{1,2}})(?=[，,、\s（(：:；;]|男|女|$)")


def scrub_text(text: str) -> tuple[str, Counter]:
    """Replace identifiers in ``text`` with tags.

    Args:
        text: free text (report, outpatient or inpatient record).

    Returns:
        The scrubbed text and a Counter of replacements per class (``name``, ``date``, ``phone``,
        ``id``, ``address``).
    """
    counts: Counter = Counter()
    out = text
    for cls, rx, repl in _RULES:
        out, n = rx.subn(repl, out)
        counts[cls] += n

    def zh_name(m: re.Match[str]) -> str:
        if any(m.group(2).startswith(w) or w.startswith(m.group(2)) for w in _NOT_NAMES):
            return m.group(0)
        counts["name"] += 1
        return m.group(1) + TAGS["name"]

    out = _ZH_PATIENT.sub(zh_name, out)
    return out, +counts
