"""Chinese radiology lexicon of the clinical labeler (written for medmllm from chest-report language).

Works on :func:`normalize` output: NFKC (full-width ``，；：？（）`` become ``,;:?()``; ``。`` and
``、`` stay), Latin letters lower-cased. Chinese negation/uncertainty scope is the clause: it ends
at a comma, a full stop or a contrast word (但/但是/然而).
"""

from __future__ import annotations

import re
import unicodedata

LANG = "zh"


def normalize(text: str) -> str:
    """NFKC, lower case, list numbering (``1.`` ``1、`` ``(1)``) -> sentence breaks."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?:^|(?<=[\s。;,]))(?:\(\d{1,2}\)|\d{1,2}[.、)](?!\d))", "\n\n", text)
    return text


SECTION_HEADER = re.compile(
    r"(检查所见|影像所见|影像表现|所见|表现|印象|诊断意见|影像诊断|诊断|意见|结论|检查结论|"
    r"临床诊断|临床资料|临床病史|病史|主诉|检查方法|检查部位|检查技术|对比|比较)\s*:")
READ_PARTS: frozenset[str] = frozenset()  # no body-part sections in the Chinese headers
SKIP_SECTIONS = frozenset({"临床诊断", "临床资料", "临床病史", "病史", "主诉", "检查方法", "检查部位", "检查技术",
                           "对比", "比较"})
SENTENCE_END = re.compile(r"[。!?;]+|\n\s*\n|\.(?!\d)")

_HEART = r"(?:心影|心脏|心)"
MENTIONS: tuple[tuple[str, str, int | None], ...] = (
    (rf"{_HEART}(?:形态|大小|形态大小|大小形态|外形)?(?:及[^,。;]{{0,6}})?(?:正常|如常|不大|未见(?:明显)?(?:增大|扩大|异常)|"
     r"无(?:明显)?(?:增大|扩大)|在正常范围内?)", "cardiomegaly", 0),
    (rf"{_HEART}(?:影)?(?:形态|大小)?(?:明显|稍|略|轻度|轻微|稍许)?(?P<head>增大|扩大|饱满)|心脏扩大|心影丰满",
     "cardiomegaly", None),
    (r"纵隔(?:影)?(?:居中)?(?:[,、]?(?:未见|无)(?:明显)?增宽|不宽|正常)", "enlarged_cm", 0),
    (r"纵隔(?:影)?(?:明显|稍|略)?(?P<head>增宽)", "enlarged_cm", None),
    (r"(?:双肺|两肺|肺野|双肺野|两肺野|双肺纹理|两肺纹理|肺纹理)(?:透亮度正常,?)?清晰", "lungs_clear", 0),
    (r"(?:磨玻璃|毛玻璃)(?:样|密度)?(?:密度)?(?:影|改变|结节)?", "ground_glass", None),
    (r"支气管肺炎|(?:小)?斑片(?:状)?(?:模糊|高密度|密度增高|渗出)?影|点片(?:状)?(?:模糊)?影|沿支气管(?:血管束)?分布",
     "bronchopneumonia", None),
    (r"实变(?:影)?|大片(?:状)?(?:致密|高密度|密度增高)影", "consolidation", None),
    (r"大叶性肺炎|肺炎", "pneumonia", None),
    (r"肺部感染|感染(?:性病变)?|炎症|炎性(?:病变|改变)?|炎变", "infection", None),
    (r"(?:肺)?不张|膨胀不全", "atelectasis", None),
    # a nodular opacity the report explains as a calcification (钙化灶) is an opacity, not a lesion
    (r"结节(?:状|样)(?:高密度|致密|密度增高)?影[^。;]{0,6}?钙化(?:灶|点|影)?", "granuloma_opacity", None),
    (r"钙化(?:灶|点|影)|肉芽肿", "granuloma", None),
    (r"结节(?:状|样)(?:高密度|致密|密度增高)?影", "nodular_opacity", None),
    (r"结节(?:影|状)?", "nodule", None),
    (r"肿块|占位(?:性病变)?|肿物|团块(?:影)?|肿瘤", "lung_lesion", None),
    (r"(?:片状|高密度|密度增高|模糊|渗出|浸润|条索|索条)(?:性)?影|渗出(?:性改变)?|浸润", "opacity", None),
    (r"肺水肿|(?:间质性)?水肿|肺淤血|肺充血", "edema", None),
    (r"液气胸", "hydropneumothorax", None),
    (r"气胸", "pneumothorax", None),
    (r"(?:肋膈角|膈角)(?:清晰)?锐利|(?:肋膈角|膈角)清晰", "effusion", 0),
    (r"(?:肋膈角|膈角)(?P<head>变钝|钝|消失|模糊)", "effusion", None),
    (r"胸腔(?:内)?(?:少量|中量|大量|少许)?积液|胸腔积液|积液|胸水", "effusion", None),
    (r"胸膜(?:增厚|粘连|钙化)", "pleural_other", None),
    (r"骨折", "fracture", None),
    (r"(?:气管)?插管|导管|置管|起搏器|引流管|支架|中心静脉", "device", None),
    (r"过度充气|充气过度|肺气肿|透亮度(?:增高|增加|升高)|过度通气", "hyperinflation", None),
)

# Lobes: 右肺下叶, 右下肺, 右肺中下叶, 右肺上、下叶, 双肺下叶, 两下肺 ...
LOCATIONS: tuple[tuple[str, str], ...] = (
    (r"(?P<side>[右左])肺?(?P<levels>[上中下](?:[、及和]?[上中下])*)(?:叶|肺(?:野)?)", "zh_side_levels"),
    (r"(?P<side>[右左])肺?(?:尖|尖段)", "side_apex"),
    (r"(?P<side>[右左])肺?底", "side_base"),
    (r"舌段", "LUL"),
    (r"(?:双|两)(?:肺)?(?P<levels>[上中下](?:[、及和]?[上中下])*)(?:叶|肺(?:野)?)", "zh_both_levels"),
    (r"(?:双|两)(?:侧|肺)", "both_sides"),
    (r"(?P<side>[右左])(?:侧|肺|胸)", "side"),
)
LOCATION_JOIN = re.compile(r"^\s*(?:[、,及和]|以及)?\s*$")

PSEUDO: tuple[str, ...] = (
    r"(?:较前|与前片比较|与前比较)?(?:无|未见)(?:明显)?(?:变化|改变|进展|好转|吸收)",
)
# kinds as in lexicon_en: "unc" a probable reading (考虑, 疑似, 倾向), "spec" a possibility raised
# (可能, 可疑, 不除外, 待排: the mention sets no label), "neg" a negation
TRIGGERS: tuple[tuple[str, str, str], ...] = (
    (r"不(?:能)?除外|不(?:能)?排除|未(?:能)?除外|未(?:能)?排除|待(?:排除|除外|排|查)|难以(?:除外|排除)",
     "spec", "both"),
    # low-probability hedges deny rather than doubt: 肺炎可能性小, 不考虑肺炎, 不太可能为气胸
    (r"可能性(?:很|较|极)?(?:小|低|不大)|不(?:太|大)可能|不(?:太|大)?考虑|不支持", "neg", "both"),
    (r"已吸收|(?:完全|基本)吸收|已消失|消失|未见显示|不明显|已(?:经)?(?:愈合|复张)", "neg", "bwd"),
    (r"可能性(?:较|很)?大|可能大", "unc", "both"),
    # clause-final 可能 looks back (右下肺炎症可能); 可能为肺炎 looks forward
    (r"可能(?=\s*(?:[。,;:!?]|$))|\?|待定", "spec", "bwd"),
    (r"考虑|疑似|疑为|拟诊|倾向(?:于)?|似|怀疑", "unc", "fwd"),
    (r"可能|可疑|疑", "spec", "fwd"),
    (r"未见(?:明显|确切|明确)?|未发现|未显示|无(?:明显|确切)?|没有|排除|否认", "neg", "fwd"),
)
TERMINATORS = re.compile(r"[,:]|但(?:是)?|然而|而|另(?:外)?|此外")
BACKWARD_STOP = re.compile(r"[,]")
COMMA_BREAK = re.compile(r"(?!)")  # commas already end every scope
LIST_ITEM = re.compile(r"(?!)")
LIST_END = re.compile(r"(?!)")
# a recommendation or condition asserts nothing: 建议CT进一步检查以除外肿瘤, 必要时复查
HYPOTHETICAL = re.compile(r"建议|必要时|如(?:有|果)")
PLURAL = re.compile(r"(?!)")
