"""English radiology lexicon of the clinical labeler (written for medmllm from chest-report language).

Everything here works on text that :func:`normalize` produced: NFKC, lower case, de-identification
masks (``XXXX``) turned into the neutral word ``xxxx``, common abbreviations spelled out. Patterns
may name a ``head`` group: the words negation/uncertainty must reach ("the heart is *not*
**enlarged**"); otherwise the whole match is the head.
"""

from __future__ import annotations

import re
import unicodedata

LANG = "en"

# (a literal every match contains, pattern, replacement): the cheap ``in`` test skips most patterns
_SIDE_NEXT = r"(?= (?:upper|middle|mid|lower|lung|base|side|sided|pleural|hemithorax|apex|apical))"
_ABBREVIATIONS: tuple[tuple[str, str, str], ...] = (
    ("vs", r"\bvs\.?(?=\s|$)", "versus"),
    ("w/o", r"\bw/o\b", "without "),
    ("w/", r"\bw/(?=\s|[a-z])", "with "),
    ("s/p", r"\bs/p\b", "status post"),
    ("b/l", r"\bb/l\b", "bilateral"),
    ("r/o", r"\br/o\b", "rule out"),
    ("c/w", r"\bc/w\b", "consistent with"),
    ("bilat", r"\bbilat\.?(?=\s|$)", "bilateral"),
    ("ptx", r"\bptx\b", "pneumothorax"),
    ("pna", r"\bpna\b", "pneumonia"),
    ("chf", r"\bchf\b", "congestive heart failure"),
    ("ggo", r"\bggos?\b", "ground-glass opacity"),
    ("atx", r"\batx\b", "atelectasis"),
    ("ett", r"\bett\b", "endotracheal tube"),
    ("ngt", r"\bngt\b", "nasogastric tube"),
    ("ogt", r"\bogt\b", "orogastric tube"),
    ("wnl", r"\bwnl\b", "within normal limits"),
    ("fx", r"\bfx\b", "fracture"),
    ("rt", r"\brt\.?" + _SIDE_NEXT, "right"),
    ("lt", r"\blt\.?" + _SIDE_NEXT, "left"),
    ("can't", r"\bcan't\b", "cannot"),
    ("can not", r"\bcan not\b", "cannot"),
)
_ABBREV_RE = [(lit, re.compile(p), r) for lit, p, r in _ABBREVIATIONS]
_MASK_RE = re.compile(r"\b[xX]{2,}\b")


def normalize(text: str) -> str:
    """NFKC, lower case, masks -> ``xxxx``, abbreviations spelled out, list numbering -> breaks."""
    text = unicodedata.normalize("NFKC", text)
    text = _MASK_RE.sub("xxxx", text).lower()
    for literal, pat, rep in _ABBREV_RE:
        if literal in text:
            text = pat.sub(rep, text)
    # "1. stable cardiomegaly 2) small effusion" -> sentence breaks (not decimals like "2.5 cm")
    text = re.sub(r"(?:(?<=\s)|^)\(?\d{1,2}[.)](?=\s)", "\n\n", text)
    return text


# --------------------------------------------------------------------------- sections, sentences
_PART = (r"(?:(?:right|left|bilateral) )?(?:knees?|hips?|shoulders?|ankles?|wrists?|elbows?|hands?|feet|foot|"
         r"fingers?|toes?|forearms?|humer(?:us|i)|femurs?|tibias?|fibulas?|pelvis|abdomen|lumbar spine|cervical spine|"
         r"skull|facial bones|sinuses)")
SECTION_HEADER = re.compile(
    r"(?:^|(?<=[\s.]))(findings?|impressions?|conclusions?|summary|opinion|results?|comparisons?|indications?|"
    r"clinical (?:history|information|indication)|history|reason for (?:exam(?:ination)?|study|request)|"
    r"technique|procedure|exam(?:ination)?|recommendations?|notifications?)\s*:"
    # a report that also covers other body parts ("Chest. ... Right elbow and forearm. No joint effusion. Left
    # knee: ..."): a body part named alone at the start of a sentence opens its section; only the chest, its ribs
    # and the thoracic spine are read
    rf"|(?:^|(?<=[.:]\s)|(?<=\n))(?P<part>chest|thoracic spine|(?:(?:right|left|bilateral) )?ribs|{_PART}(?:,? and {_PART})*)\s*(?::|\.(?=\s|$))")
READ_PARTS = frozenset({"chest", "thoracic spine", "ribs", "right ribs", "left ribs", "bilateral ribs"})
SKIP_SECTIONS = frozenset({"comparison", "comparisons", "indication", "indications", "clinical history",
                           "clinical information", "clinical indication", "history", "reason for exam",
                           "reason for examination", "reason for study", "reason for request", "technique",
                           "procedure", "exam", "examination", "notification", "notifications"})
SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)|\n\s*\n")

# --------------------------------------------------------------------------- mentions
_HEART = r"(?:heart(?: size)?|cardiac (?:silhouette|size|shadow|contours?)|cardiopericardial silhouette)"
_CM = r"(?:cardiomediastinal (?:silhouette|contours?|size|shadow)|heart and mediastinum)"
_MED = r"(?:mediastinal (?:contours?|silhouette|width)|mediastinum|hil(?:a|ar contours))"
_BE = r"(?:is|are|appears?|remains?|looks?|seems?|was|were)"
_NORMAL = (r"(?:(?:otherwise |also |again |grossly |overall |essentially )?(?:normal|within normal limits|unremarkable|"
           r"upper limits? of normal|top[- ]normal|of normal size|normal in size|not (?:enlarged|widened)))")
_OUTSIDE_LUNG = (r"osseous|bony|bone|lytic|sclerotic|blastic|expansile|skin|cutaneous|soft[- ]tissue|breast|axillary|"
                 r"chest wall|mediastinal|paratracheal|thyroid|neck|abdominal|hepatic|liver|renal|adrenal|splenic")
# sites outside the lung parenchyma (as in the MeSH reference's non-lung sites): a density over one of them
# is not a lung opacity ("densities over the breast shadows", "nodular opacity projecting over the 9th rib")
_NON_LUNG_SITE = (r"(?:breasts?|breast shadows?|nipples?|ribs?|clavicles?|scapulae?|scapulas?|shoulders?|"
                  r"humer(?:us|i|al heads?)|soft tissues?|chest wall|spine|vertebra(?:e|l bod(?:y|ies))?|sternum|"
                  r"(?:upper )?abdomen|skin|thyroid|neck|axillae?|axillary (?:region|soft tissues?))")
# up to four words between the preposition and the site, none of them a lung word ("over the posterior right
# 9th rib", not "in the right upper lobe with rib ...")
_SITE_GAP = (r"(?:(?!(?:lobes?|lungs?|bases?|basilar|apex|apices|apical|hil(?:um|a|ar)|perihilar|zones?|fields?|"
             r"with|and|or|but)\b)[\w-]+ ){0,4}?")
# things that look like a nodule or a density on a radiograph but are not in the lung
_MIMIC = (r"(?:nipple|bone island|end-on vessel|vessel seen end-on|artifact|telemetry|(?:ekg|ecg|monitor(?:ing)?) "
          r"(?:leads?|wires?|pads?)|skin (?:fold|lesion|tag)|piercings?|jewel(?:le)?ry|clothing|buttons?|snaps?|"
          r"hair(?: braids?)?|braids?|external to the patient)")
# a gap inside one statement: no second verb, no "enlarged", no contrast word
_GAP = r"(?:(?!\b(?:is|are|was|were|appears?|remains?|enlarg\w*|not|but|however|and the)\b)[\w\s,]){0,40}?"

# (pattern, concept, fixed status or None). Fixed entries are statements of normality (or doubt)
# by themselves; the others get their status from negation/uncertainty triggers.
MENTIONS: tuple[tuple[str, str, int | None], ...] = (
    # heart and mediastinum
    (rf"\bnormal (?:{_HEART}|cardiac size|heart) and {_MED}", "heart_and_mediastinum", 0),
    (rf"\b{_CM}\b{_GAP}\b{_BE} {_NORMAL}", "heart_and_mediastinum", 0),
    (rf"\b(?:normal|unremarkable) {_CM}", "heart_and_mediastinum", 0),
    (rf"\b(?:normal|unremarkable) (?:{_HEART}|cardiac size)(?! and {_MED})", "cardiomegaly", 0),
    (rf"\b{_HEART}\b{_GAP}\b{_BE} {_NORMAL}", "cardiomegaly", 0),
    (rf"\b{_HEART} (?:is )?(?:normal|within normal limits|unremarkable|upper limits? of normal|top[- ]normal)\b",
     "cardiomegaly", 0),
    (rf"\b{_HEART} (?:size )?{_BE} (?:at the )?borderline(?: (?:normal|size|in size))?\b(?! enlarg)", "cardiomegaly", -1),
    (rf"\bborderline (?:{_HEART}|cardiac size)\b(?! (?:is |are )?(?:normal|within))", "cardiomegaly", -1),
    (r"\bcardiomegaly\b", "cardiomegaly", None),
    (r"\bcardiac (?:enlargement|hypertrophy)\b|\benlargement of the (?:heart|cardiac (?:silhouette|shadow))\b",
     "cardiomegaly", None),
    (rf"\b(?:enlarged|enlarging|large|increased) (?:{_HEART}|heart|cardiac size)\b", "cardiomegaly", None),
    (rf"\b{_HEART}\b{_GAP}\b{_BE}\s+(?:\w+\s+){{0,3}}?(?P<head>enlarged|large|increased|prominent|"
     r"enlarging|globular)\b", "cardiomegaly", None),
    # note style without a verb: "Heart size mildly enlarged", "heart size XXXX moderately enlarged"
    (rf"\b{_HEART} (?:(?:xxxx|mildly|moderately|markedly|severely|slightly|minimally|significantly|again|still|"
     r"now|stably|stable|borderline|at least|mildly to moderately) )*(?P<head>enlarged)\b", "cardiomegaly", None),
    (rf"\b{_MED}\b{_GAP}\b{_BE} {_NORMAL}", "enlarged_cm", 0),
    (rf"\bnormal {_MED}", "enlarged_cm", 0),
    (r"\b(?:widened|widening of the|enlarged|prominent) (?:superior )?(?:mediastinum|mediastinal silhouette|"
     r"cardiomediastinal silhouette|mediastinal contours?)\b", "enlarged_cm", None),
    (r"\bmediastinal (?:widening|enlargement|prominence)\b|\bprominence of the (?:superior )?mediastinum\b|"
     r"\bparatracheal (?:prominence|fullness|widening)\b", "enlarged_cm", None),
    (rf"\b(?:{_MED}|{_CM})\b{_GAP}\b{_BE}\s+(?:\w+\s+){{0,2}}?(?P<head>widened|enlarged|wide)\b",
     "enlarged_cm", None),
    # lungs
    (rf"\b(?:the )?(?:lungs?|lung fields?|lung parenchyma)\b(?: {_BE})? (?:otherwise |again |now |grossly |"
     r"essentially |both |well[- ]expanded and |well[- ]inflated and |expanded and )*clear\b", "lungs_clear", 0),
    (r"\bclear lungs?\b", "lungs_clear", 0),
    (r"\bground[- ]?glass(?: (?:opacit(?:y|ies)|opacification|attenuation|densit(?:y|ies)|changes?))?",
     "ground_glass", None),
    (r"\bbroncho-?pneumoni(?:a|c)\b|\bperibronchial (?:opacit(?:y|ies)|infiltrates?|consolidation)\b",
     "bronchopneumonia", None),
    (r"\b(?:airspace |air-space |air space )?consolidat(?:ion|ions|ive|ed)\b", "consolidation", None),
    (r"\bpneumonias?\b|\bpneumonic\b", "pneumonia", None),
    (r"\bgranulomas?\b|\bgranulomatous(?: (?:disease|process|infection|changes?|sequelae?))?\b",
     "granuloma", None),
    (r"\b(?:(?:prior|previous|old|remote|healed|past)|(?:history|sequelae?|residua(?:l|ls)?) (?:of|from|to)"
     r"(?: (?:a|the))?(?: (?:prior|previous|old|remote|past))?) (?:granulomatous )?(?:infection|infectious process|"
     r"pneumonia|tuberculosis|tb|histoplasmosis)\b", "history", None),
    (r"\bpneumonitis\b|\binfect(?:ion|ions|ive|ious(?: process| etiology)?)\b|\baspiration\b", "infection",
     None),
    (r"\b(?:reticulo-?|reticular[- ])nodular (?:opacit(?:y|ies)|densit(?:y|ies)|pattern|changes?|markings)\b|"
     r"\binterstitial nodular (?:opacit(?:y|ies)|densit(?:y|ies)|pattern)\b", "opacity", None),
    # a nodular opacity the report explains as a granuloma is an opacity, not a lesion
    (r"\bnodular (?:opacit(?:y|ies)|densit(?:y|ies))\b(?:(?!\b(?:may|might|could|or|versus|but)\b)[^.;]){0,80}?"
     r"\bgranulom", "granuloma_opacity", None),
    # ... and one it explains as a nipple shadow, a bone island, a vessel or something outside the patient is
    # no finding of the lung at all (a density explained so, too: a skin fold, piercings, monitor leads) ...
    (rf"\bnodul(?:e|es|ar (?:opacit(?:y|ies)|densit(?:y|ies)))\b(?:(?!\b(?:may|might|could|or|versus|but)\b)"
     rf"[^.;]){{0,80}}?\b(?:{_MIMIC}|overlying (?:soft tissue|clothing|hair))", "outside_lung", None),
    (rf"\b(?:opacit(?:y|ies)|densit(?:y|ies))\b(?:(?!\b(?:may|might|could|or|versus|but|and|no|not)\b)[^.;]){{0,80}}?"
     rf"\b{_MIMIC}", "outside_lung", None),
    # ... while a nodular opacity that only *may* be such a mimic is still an opacity, but not a lesion
    (rf"\bnodular (?:opacit(?:y|ies)|densit(?:y|ies))\b(?:(?!\b(?:or|versus|but)\b)[^.;]){{0,80}}?\b(?:may|might|"
     rf"could)\b(?:(?!\b(?:or|versus|but)\b)[^.;]){{0,40}}?\b{_MIMIC}", "opacity", None),
    # a density, opacity or nodule over a rib, the breast, the spine, the soft tissues ... is not in the lung
    (rf"\b(?:nodul(?:e|es)|(?:nodular )?(?:opacit(?:y|ies)|densit(?:y|ies)))\b(?: (?:projecting|projected|projects|"
     rf"seen|noted|located|lying))? (?:over(?:lying)?|in|within|of|at|along) (?:the |a |an )?{_SITE_GAP}"
     rf"{_NON_LUNG_SITE}\b", "outside_lung", None),
    # small, faint or ill-defined nodular opacities (plural) are a pattern of opacity, not a discrete lesion
    (r"\b(?:vague|faint|ill-defined|poorly[- ]defined|subtle|hazy|minimal|tiny|small)(?: [\w-]+){0,2}? nodular "
     r"(?:opacities|densities)\b", "opacity", None),
    (r"\bnodular (?:opacit(?:y|ies)|densit(?:y|ies))\b|\bmass[- ]?like (?:opacit(?:y|ies)|densit(?:y|ies)|"
     r"consolidation|lesion)\b", "nodular_opacity", None),
    (r"\bnodul(?:e|es|ar lesions?)\b|\bmicronodul(?:e|es)\b", "nodule", None),
    # masses and lesions outside the lung (bone, breast, mediastinum, soft tissues) are not a lung lesion
    (rf"\b(?:{_OUTSIDE_LUNG}) (?:masse?s?|lesions?|tumou?rs?|nodules?)\b|\b(?:masse?s?|lesions?|tumou?rs?) (?:of|in|within|"
     rf"involving|at) (?:the )?(?:\w+ )?(?:{_OUTSIDE_LUNG}|ribs?|humer(?:us|al)|clavicles?|scapulae?|spine|"
     r"vertebra(?:e|l)?(?: bod(?:y|ies))?|sternum|bones?|skin|t\d{1,2})\b|\bmass effect\b", "outside_lung", None),
    (r"\b(?<!osseous )(?<!bony )(?<!lytic )(?<!sclerotic )(?<!skin )(?<!blastic )(?<!soft tissue )"
     r"(?:masse?s?|lesions?|tumou?rs?|neoplasms?|malignanc(?:y|ies)|carcinoma|cavitary lesions?)\b",
     "lung_lesion", None),
    (r"\batelecta(?:sis|ses|tic)\b|\b(?:lobar |lobe |lung |segmental |subsegmental )collapse\b|\bvolume loss\b|"
     r"\bcollapse of the (?:\w+ ){0,3}lobe\b|\blobe (?:is |was )?collapsed\b",
     "atelectasis", None),
    (r"\bopaci(?:ty|ties|fication|fications|fied)\b|\binfiltrat(?:e|es|ion|ive)\b|\bair[- ]?space "
     r"(?:disease|process|opacit(?:y|ies))\b|(?<!bone )(?<!mineral )(?<!osseous )(?<!breast )\bdensit(?:y|ies)\b|"
     r"\bhaziness\b|\breticular opacit(?:y|ies)\b|\binterstitial opacit(?:y|ies)\b", "opacity", None),
    # chronic interstitial markings are not an opacity, bronchial wall thickening ("peribronchial cuffing") is
    # not a pneumonia (they name no CheXpert observation)
    (r"\b(?:peribronchial|bronchial wall) (?:thickening|cuffing)\b|"
     r"\b(?:interstitial|reticular|bronchovascular|pulmonary|lung|vascular) (?:markings?|prominence|pattern|"
     r"thickening|changes?|accentuation)\b|\binterstitial (?:lung )?disease\b|\bprominen(?:t|ce of (?:the )?)"
     r"(?:interstitial|interstitium|pulmonary) ?(?:markings?)?\b", "interstitial", None),
    (r"\b(?:pulmonary |interstitial |alveolar )?o?edema\b|\b(?:pulmonary )?(?:vascular )?congestion\b|"
     r"\bcongestive heart failure\b|\bheart failure\b|\bfluid overload\b|\bkerley b lines\b|"
     r"\b(?:pulmonary )?vascular redistribution\b|\b(?:pulmonary )?(?:vascular|venous) (?:engorgement|prominence)\b|"
     r"\bprominen(?:t|ce of the) pulmonary vasculature\b|\bengorged pulmonary (?:vessels|vasculature)\b|\bindistinct(?:ness of the)? (?:pulmonary )?vascula(?:r|ture)"
     r"(?: margins?| margination)?\b|"
     r"\bcephalization\b", "edema", None),
    (r"\bhydropneumothora(?:x|ces)\b", "hydropneumothorax", None),
    (r"\bpneumothora(?:x|ces)\b|\bpleural air(?: collections?)?\b|\bair in the pleural space\b", "pneumothorax", None),
    (rf"\bcostophrenic (?:angles?|sulc(?:us|i)|recess(?:es)?|xxxx)\b(?: {_BE})? (?:\w+ )?(?:sharp|sharply defined|clear|preserved|"
     r"normal)\b", "effusion", 0),
    (r"\b(?:sharp|clear|preserved) costophrenic (?:angles?|sulc(?:us|i)|recess(?:es)?|xxxx)\b", "effusion", 0),
    (r"\b(?:blunting|blunted|obliteration) of (?:the )?(?:\w+ ){0,2}costophrenic (?:angles?|sulc(?:us|i)|recess(?:es)?|xxxx)\b|"
     rf"\bcostophrenic (?:angles?|sulc(?:us|i)|recess(?:es)?|xxxx)\b(?: {_BE})? (?:\w+ )?(?P<head>blunted|blunting|obliterated)\b",
     "effusion", None),
    # an effusion of a joint or of the pericardium is not a pleural effusion
    (r"\b(?:joint|knee|suprapatellar|elbow|shoulder|hip|ankle|wrist|pericardial) effusions?\b", "outside_lung", None),
    # ("pleural fusion": a dictation error for pleural effusion, common in dictated reports)
    (r"\b(?:pleural )?effusions?\b|\bpleural fusions?\b|\bpleural fluid\b|\bhydrothorax\b|\bfluid in the "
     r"(?:pleural space|fissures?)\b", "effusion", None),
    (r"\bpleural(?:[- ]parenchymal)? (?:thickening|plaques?|scarring|calcifications?)\b|\bfibrothorax\b|"
     r"\bapical (?:pleural )?(?:cap|capping|thickening)\b", "pleural_other", None),
    (r"\b(?:[\w-]+ ){0,3}(?:catheter|lead|wire|line|tube|stent|pacemaker|port)s? fractur(?:e|es|ed)\b|\bfractur(?:e|es|ed) "
     r"(?:of )?(?:the )?(?:\w+ ){0,2}(?:catheters?|leads?|wires?|lines?|tubes?|stents?|sternotomy)\b", "device", None),
    (r"\bfractur(?:e|es|ed)\b", "fracture", None),
    (r"\b(?:endotracheal|tracheostomy|enteric|feeding|nasogastric|orogastric|nasoenteric|chest|dobhoff|"
     r"ng|og|et|thoracostomy) tubes?\b|\b(?:central venous|venous|picc|midline|swan[- ]ganz|arterial|"
     r"central) (?:lines?|catheters?)\b|\bpicc\b|\bcatheters?\b|\bpacemakers?\b|\bpacer\b|"
     r"\b(?:aicd|icd|defibrillator)\b|\b(?:sternotomy|sternal) wires\b|\bmedian sternotomy\b|"
     r"\bsurgical clips\b|\bport-?a-?cath\b|\b(?:chest|power|infusion) port\b|\bstents?\b|"
     r"\b(?:prosthetic|replaced) (?:valve|valves)\b|\bvalve replacement\b|\bpacing (?:leads?|wires?)\b|"
     r"\bsupport devices?\b|\blines and tubes\b|\btubes and lines\b|\bdrains?\b", "device", None),
    (r"\bhyper-?(?:inflat(?:ed|ion)|expan(?:ded|sion)|aerat(?:ed|ion)|lucen(?:t|cy))\b|"
     r"\bover-?(?:inflat(?:ed|ion)|expan(?:ded|sion))\b|\bair trapping\b|\bflatten(?:ed|ing of the) "
     r"(?:hemi-?)?diaphragms?\b|\bemphysema(?:tous)?\b|\bcopd\b", "hyperinflation", None),
)

# --------------------------------------------------------------------------- locations
# Each entry: (pattern, lobes, sides). Lobes/sides may be the names of capture groups to read
# (see locations._location_sets); plain tuples are used as they are.
_SIDE = r"(?P<side>right|left)(?:[- ]sided)?"
LOCATIONS: tuple[tuple[str, str], ...] = (
    (rf"\b{_SIDE} (?P<levels>(?:upper|middle|mid|lower)(?:(?:,? and|,|/| &) (?:upper|middle|mid|lower))*) "
     r"(?:lung )?(?:lobes?|lung zones?|zones?|lung fields?|lungs?|hemithorax)\b", "side_levels"),
    (r"\bright and left (?P<levels>upper|middle|lower) lobes?\b|\b(?:bilateral|both) (?P<levels2>upper|lower) "
     r"(?:lung )?(?:lobes?|zones?|lungs?|lung fields?)\b|\b(?P<levels3>upper|lower) lobes? bilaterally\b",
     "both_levels"),
    (r"\b(?P<lobe>rul|rml|rll|lul|lll)\b", "lobe_code"),
    (r"\blingul(?:a|ar)\b", "LUL"),
    (rf"\b{_SIDE} (?:lung )?(?:bases?|basilar|basal|basis|infrahilar)\b", "side_base"),
    (rf"\b{_SIDE} (?:lung )?(?:apex|apices|apical|apicoposterior)\b", "side_apex"),
    (r"\b(?:bibasilar(?:ly)?|bibasal(?:ly)?|bibasally|(?:both|bilateral|the|at the) (?:lung )?bases|"
     r"bilateral (?:lower|basilar|basal)(?: lung)?(?: zones?| fields?)?)\b", "both_bases"),
    (r"\bretrocardiac\b", "LLL"),
    (r"\b(?:bilateral(?:ly)?|both (?:sides|lungs|hemithoraces)|on both sides)\b", "both_sides"),
    # direction words that are not the side of a finding
    (r"\b(?:shift(?:ed)?|deviat(?:ed|ion)|displace(?:d|ment)|convex|curv(?:ed|ature)|scoliosis)\b"
     r"(?: \w+){0,2} (?:to|toward|towards) the (?:right|left)\b|\bto the (?:right|left) of\b", "none"),
    (rf"\b{_SIDE}\b", "side"),
)
# location pieces joined by these form one location ("right middle and right lower lobes")
LOCATION_JOIN = re.compile(r"^\s*(?:,|and|,\s*and|&|/|as well as|or)?\s*(?:the\s+|in the\s+)?$")

# --------------------------------------------------------------------------- triggers
# pseudo-triggers: look like negation but are not ("no change in the effusion")
PSEUDO: tuple[str, ...] = (
    r"\bno (?:significant |appreciable |definite |substantial |further |other )?(?:interval )?(?:change|"
    r"increase|decrease|progression|worsening|improvement|difference|enlargement)\b",
    r"\bnot (?:significantly |substantially )?(?:changed|increased|decreased|improved|worsened)\b",
    r"\bwithout (?:significant |appreciable )?(?:interval )?(?:change|progression|improvement|worsening)\b",
    r"\bnot only\b",
    # the age of a fracture is unknown, not the fracture: "age-indeterminate rib fractures"
    r"\bage[- ]indeterminate\b|\bindeterminate (?:age|chronicity)\b",
    r"\bto (?:suggest|indicate)\b",
)
# (pattern, kind, direction): kind "neg" -> 0, "unc" -> -1 (a probable reading), "spec" -> speculative (a
# hedge that only raises a possibility: the mention sets no label, see pipeline), "hist" -> the past (the
# mention is dropped); direction "fwd" (scope after), "bwd" (scope before, back to the clause start) or
# "both". Earlier entries win overlaps: double negations ("cannot be excluded" = a possibility) first, then
# the backward phrases that contain a forward word ("is not seen", "is possible"), then the single forward
# words.
TRIGGERS: tuple[tuple[str, str, str], ...] = (
    (r"\b(?:cannot|could not|couldn't|unable to|not possible to|impossible to|difficult to|hard to|"
     r"do not|does not|did not|would not|may not|not|nor) (?:be )?(?:entirely |completely |definitely |"
     r"totally |fully |confidently |definitively |reliably |excluded or )?(?:exclude[ds]?|rule[ds]? out)\b",
     "spec", "both"),
    # low-probability hedges deny rather than doubt (CheXpert reads "unlikely" as a negation): "pneumonia is less
    # likely", "less likely pneumonia", "not favored to represent infection", "doubtful effusion"
    # ("the opacity is unlikely to represent pneumonia" denies the pneumonia, not the opacity)
    (r"\b(?:(?:is|are|was|were) )?(?:(?:much |far )?less likely|unlikely|not (?:felt |thought |considered )?"
     r"(?:likely|favou?red)) to (?:be|represent|reflect|indicate)\b", "neg", "fwd"),
    (r"\b(?:(?:is|are|was|were|appears?|seems?) )?(?:much |far )?less likely\b|"
     r"\b(?:(?:is|are|was|were) )?not (?:felt |thought |considered )?(?:to be )?(?:likely|favou?red|suspected|"
     r"probable)\b|\b(?:(?:is|are|was|were) )?(?:doubtful|improbable)\b|\bdoubt\b", "neg", "both"),
    # a two-way differential names a probable finding ("atelectasis versus scarring")
    (r"\bversus\b", "unc", "both"),
    (r"\b(?:is |are |was |were |has been |have been )?(?:not|no longer) (?:\w+ )?(?:seen|identified|"
     r"visuali[sz]ed|visible|demonstrated|appreciated|present|evident|noted|detected|apparent|shown)\b|"
     r"\b(?:has|have|had|is|are|was|were)(?: now| since| essentially| completely| nearly| almost| largely)?"
     r"(?: been)? (?:resolved|cleared|disappeared)\b|\b(?<!partially )(?<!partly )(?:resolved|cleared|disappeared)"
     r"(?=\s*(?:[.;,:]|$))|\b(?:is |are |was |were |has been |have been )?"
     r"(?:removed|absent|ruled out|excluded)\b|\bunlikely\b|\bnegative\b(?! for)|\b(?:appears? |is |are |remains? )?"
     r"within (?:the )?(?:normal limits|limits of normal)\b", "neg", "bwd"),
    (rf"\b{_BE} (?:also |more |most |quite |very )?(?:likely|probable|suspected|favou?red|suggested)\b", "unc", "bwd"),
    (rf"\b{_BE} (?:also |more |most |quite |very )?(?:possible|questioned|(?:a|another) consideration|questionable)\b|"
     r"\b(?:would|could|may|might) (?:also )?be (?:a |another )?(?:consideration|considered|possible)\b|"
     r"\b(?:may|might|could) (?:also )?be (?:present|seen|noted|there)\b|\?", "spec", "bwd"),
    # "pneumonia could be developing" looks back; "could be developing or resolving pneumonia" is the
    # forward "could" below
    (r"\b(?:may|might|could) (?:also )?be (?:developing|evolving)(?=\s*(?:[.;,:]|$))", "spec", "bwd"),
    # possibilities raised: a request to check, a concern, a differential, a modal verb
    (r"\b(?:to )?rule out\b|\bevaluat(?:e|ion) for\b|\bcorrelate(?: clinically)? for\b|\bquestion(?: of)?\b|"
     r"\bconcern(?:ing)? for\b|\bsuspicious (?:for|of)\b|\bsuspicion (?:for|of)\b|\bworrisome for\b|"
     r"\bmay\b|\bmight\b|\bcould\b|\bpossibl[ey]\b|\bquestionabl[ey]\b|\bequivocal\b|"
     r"\bdifferential (?:diagnosis )?(?:includes?|considerations? includes?)\b|\bconsider(?:ed)?\b|"
     r"\bcannot be determined\b", "spec", "fwd"),
    # probable readings
    (r"\bsuggestive of\b|\bsuggest(?:s|ing|ed)?\b|\bprobabl[ey]\b|\blikely\b|\bsuspected\b|\bborderline\b|"
     r"\bindeterminate\b|\bpresum(?:ed|ably)\b|\bfavou?r(?:s|ed)?\b", "unc", "fwd"),
    (r"\b(?:(?:a |known |prior |previous |remote |past )?history|sequelae?) of\b", "hist", "fwd"),
    (r"\bno\b|\bnot\b|\bwithout\b|\bfree of\b|\bnegative for\b|\babsence of\b|\bresolution of\b|"
     r"\b(?:interval )?clearing of\b|\b(?<!partially )(?<!partly )(?<!incompletely )(?:resolved|cleared)\b|"
     r"\brather than\b|\bclear of\b|\bremoval of\b|\bnever\b|\bnor\b|\bexcludes?\b|\bneither\b", "neg", "fwd"),
)
# words that end a trigger's scope (forward) or start a clause (backward)
TERMINATORS = re.compile(
    r"\b(?:but|however|although|though|yet|except(?:ing)?(?: for)?|aside from|apart from|other than|besides|"
    r"with the exception of|whereas|while|nevertheless|which|there (?:is|are|has been|have been|was|were)|"
    r"and (?:there|the|a|an|is|are|has|have)|in addition|additionally|also noted)\b|,\s*with\b"
    r"|:")
# backward scopes also stop at commas ("right lower lobe consolidation, pneumonia cannot be excluded") and at
# "with" ("stable cardiomegaly with left basilar infiltrate versus atelectasis": the heart is not in doubt)
BACKWARD_STOP = re.compile(r",|\bwith\b")
# a comma followed by one of these starts a new statement: forward scopes end there
# ("no pneumothorax, small right effusion"); other commas continue a list ("no effusion, pneumothorax
# or consolidation")
COMMA_BREAK = re.compile(
    r",\s*(?:a|an|the|small|moderate|large|mild|mildly|moderately|severe|trace|minimal|tiny|slight|slightly|"
    r"subtle|persistent|stable|unchanged|increased|increasing|decreased|decreasing|improved|improving|"
    r"worsening|worsened|new|again|there|likely|probably|possibly|status|otherwise|heart|lungs?)\b")
# ... unless the comma starts a list item with a size word and the list goes on to "or"/"nor": "no focal
# consolidation, large pleural effusion, or pneumothorax" is one negated list
LIST_ITEM = re.compile(r",\s*(?:small|moderate|large|mild|mildly|moderately|severe|trace|minimal|tiny|slight|"
                       r"slightly|subtle)\b")
LIST_END = re.compile(r"\b(?:or|nor)\b")
# mentions after one of these, in the same sentence, are hypothetical (a condition, a recommendation):
# "If there is continued concern for occult fracture, consider a rib series"
HYPOTHETICAL = re.compile(r"\bif\b|\brecommend(?:s|ed|ation)?\b|\b(?:would|may|might|could) be (?:helpful|useful|of "
                          r"(?:benefit|value))\b|\b(?:can|could) be performed\b|\blimit(?:s|ed|ing)? (?:the )?"
                          r"(?:evaluation|assessment)\b")
PLURAL = re.compile(r"(?:effusions|pneumothoraces)$")
