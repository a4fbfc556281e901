"""Phrase banks of the report grammar (English and Chinese); see :mod:`.report_grammar` for the syntax.

Rules the banks keep, so reports stay easy to label: a positive sentence never contains a
negation word (no, not, without, normal / 未, 无, 不, 正常); a negative sentence never names a
present finding; a consolidation sentence always names its lobe and the word consolidation
(实变); bronchopneumonia and atelectasis sentences never say "consolidation" / "实变".
"""

EN = {
    "positive": {
        "consolidation": {
            "xray": {
                "lobar": ["[Dense|Homogeneous|Confluent] consolidation [is seen|is present|is noted] in the {lobe}{extra}.",
                          "There is [dense |homogeneous |confluent |][airspace |]consolidation in the {lobe}{extra}.",
                          "The {lobe} [shows|demonstrates] [dense |confluent |]lobar consolidation{extra}.",
                          "[Lobar|Dense] airspace consolidation of the {lobe}{extra}."],
                "segmental": ["[Patchy|Segmental|Focal] consolidation [is seen |]in the {lobe}{extra}.",
                              "There is a [segmental|focal] area of consolidation in the {lobe}{extra}."]},
            "ct": {
                "lobar": ["[Dense|Homogeneous] consolidation [is seen|is present] in the {lobe}{extra}.",
                          "The {lobe} [shows|demonstrates] lobar consolidation{extra}.",
                          "There is consolidation of [most of |]the {lobe}{extra}."],
                "segmental": ["[Segmental|Patchy|Focal] consolidation in the {lobe}{extra}.",
                              "A [segmental|wedge-shaped] area of consolidation [is seen |]in the {lobe}{extra}."]},
        },
        "bronchopneumonia": {
            "xray": ["[Patchy|Scattered|Multifocal] [ill-defined |hazy |]opacities in {dist}[, predominantly in the middle "
                     "and lower zones|, in a perihilar distribution|], [consistent with|in keeping with|suggestive of] "
                     "bronchopneumonia.",
                     "There are [patchy|scattered] [ill-defined |]opacities [in|throughout] {dist}[, mainly in the lower "
                     "zones|], [in keeping with|compatible with] bronchopneumonia."],
            "ct": ["[Multiple|Scattered] patchy opacities along the bronchovascular bundles in {dist}, [consistent with|"
                   "in keeping with] bronchopneumonia.",
                   "Patchy [ill-defined |]peribronchial opacities in {dist}[, predominantly in the lower lobes|], "
                   "[suggesting|compatible with] bronchopneumonia."],
        },
        "ground_glass": {
            "xray": ["[Hazy|Faint|Ill-defined] ground-glass [opacity|opacities] [in|over] {dist}.",
                     "There is hazy ground-glass opacification of {dist}."],
            "ct": ["[Patchy|Multifocal|Scattered] ground-glass opacities [are seen |]in {dist}.",
                   "Areas of ground-glass attenuation in {dist}."],
        },
        "pleural_effusion": {
            "xray": ["[A |]{size} {side} pleural effusion[ with blunting of the {side} costophrenic angle| with a meniscus|].",
                     "Blunting of the {side} costophrenic angle by a {size} pleural effusion.",
                     "There is a {size} {side} pleural effusion."],
            "ct": ["[A |]{size} {side} pleural effusion [is present|is seen].",
                   "Fluid attenuation in the {side} pleural space, in keeping with a {size} pleural effusion.",
                   "There is a {size} {side} pleural effusion[ layering posteriorly|]."],
        },
        "pneumothorax": {
            "xray": ["[A |]{size} {side} pneumothorax[ with a visible visceral pleural line| with partial collapse of the "
                     "{side} lung|].",
                     "There is a {size} {side} pneumothorax, with the {side} lung collapsed by about {pct}%."],
            "ct": ["Air in the {side} pleural space[, anterior and lateral to the lung|], in keeping with a {size} {side} "
                   "pneumothorax.",
                   "[A |]{size} {side} pneumothorax [is present|is seen][ with partial collapse of the {side} lung|]."],
        },
        "atelectasis": {
            "xray": ["[Linear|Plate-like|Band-like|Discoid] [atelectasis|opacity in keeping with atelectasis] [in|at] the "
                     "{side} [lower zone|lung base]."],
            "ct": ["[Linear|Band-like|Plate-like] [density|opacity] in the {side} lower lobe, [consistent with|in keeping "
                   "with] [subsegmental|plate-like] atelectasis."],
        },
        "cardiomegaly": {
            "xray": ["The [cardiac silhouette|heart] is enlarged[, with a cardiothoracic ratio of about {ctr}|].",
                     "Cardiomegaly[, cardiothoracic ratio about {ctr}|].", "The heart is [enlarged|large]."],
            "ct": ["The heart is enlarged.", "Cardiomegaly [is present|is noted].",
                   "The cardiac chambers are [diffusely |]enlarged."],
        },
        "hyperinflation": {
            "xray": ["The lungs are hyperinflated[ with flattened hemidiaphragms|, with flattening of the diaphragm|].",
                     "Hyperinflation of both lungs[ with flattened hemidiaphragms|]."],
            "ct": ["The lungs are hyperinflated with increased lucency[ and flattened hemidiaphragms|].",
                   "Hyperinflated lungs with increased lung volumes."],
        },
        "nodule": {
            "xray": ["[A|There is a] [well-defined|rounded|round] [nodule|nodular opacity] [of about|measuring about] {d} mm "
                     "in the {lobe}."],
            "ct": ["[A|There is a] [solid|well-defined|round] [pulmonary |]nodule [measuring|of] {d} mm in the {lobe}"
                   "[, with smooth margins|]."],
        },
    },
    "air_bronchogram": "[, with air bronchograms|, containing air bronchograms]",
    "silhouette": {"RML": ", obscuring the right heart border", "RLL": ", obscuring the right hemidiaphragm",
                   "LLL": ", projected behind the heart", "lingula": ", obscuring the left heart border"},
    "bilateral_effusion": ["Bilateral pleural effusions, {size_r} on the right and {size_l} on the left.",
                           "Bilateral pleural effusions ({size_r} right, {size_l} left)."],
    "bilateral_effusion_impression": "Bilateral pleural effusions",
    "impression": {
        "consolidation": ["{lobe} [consolidation|pneumonia|consolidation in keeping with pneumonia]"],
        "bronchopneumonia": ["[Bronchopneumonia|Features of bronchopneumonia|Bronchopneumonia involving {dist}]"],
        "ground_glass": ["Ground-glass opacities in {dist}[, likely infective|]",
                         "[Patchy|Multifocal] ground-glass opacities"],
        "pleural_effusion": ["{size} {side} pleural effusion", "{side} pleural effusion ({size})"],
        "pneumothorax": ["{size} {side} pneumothorax", "{side} pneumothorax (about {pct}% collapse)"],
        "atelectasis": ["[Plate-like|Subsegmental|Linear] atelectasis [at the {side} base|in the {side} lower zone]"],
        "cardiomegaly": ["Cardiomegaly", "Enlarged cardiac silhouette"],
        "hyperinflation": ["Hyperinflation[, in keeping with small airways disease|]", "Hyperinflated lungs"],
        "nodule": ["{d} mm nodule in the {lobe}[, follow-up suggested|]"],
    },
    "negative": {
        "lungs_clear": {"xray": ["The lungs are clear.", "Both lungs are clear.", "No focal consolidation.",
                                 "No focal airspace opacity.", "The lungs are clear without focal consolidation."],
                        "ct": ["The lungs are clear.", "No consolidation or ground-glass opacity.",
                               "No focal consolidation is seen.", "The lung parenchyma is unremarkable."]},
        "no_consolidation": ["No lobar consolidation.", "There is no focal consolidation."],
        "no_nodule": ["No pulmonary nodules.", "No suspicious pulmonary nodule is seen."],
        "no_effusion_no_ptx": ["No pleural effusion or pneumothorax.", "There is no pleural effusion or pneumothorax.",
                               "The costophrenic angles are sharp; no pneumothorax.", "No pleural effusion. No pneumothorax."],
        "no_effusion": ["No pleural effusion.", "The costophrenic angles are sharp.", "There is no pleural effusion."],
        "no_ptx": ["No pneumothorax.", "There is no pneumothorax."],
        "heart_normal": {"xray": ["The heart size is normal.", "The cardiac silhouette is [normal|within normal limits].",
                                  "Normal heart size.", "The cardiomediastinal silhouette is [normal|unremarkable]."],
                         "ct": ["The heart is normal in size.", "Normal heart size.", "No cardiomegaly."]},
        "mediastinum": {"xray": ["The trachea is central.", "The mediastinum is [central|not widened].",
                                 "The hila are [normal|unremarkable]."],
                        "ct": ["The central airways are patent.", "No mediastinal lymphadenopathy.",
                               "The trachea and main bronchi are patent."]},
        "volumes_normal": ["Lung volumes are normal.", "Normal lung volumes."],
        "bones": ["The [visualised|imaged] bones are unremarkable.", "No bony abnormality.", "The bony thorax is intact."],
        "impression_normal": {"xray": ["No acute cardiopulmonary abnormality.", "Normal chest radiograph.",
                                       "No evidence of pneumonia.", "No active lung disease."],
                              "ct": ["No acute abnormality on chest CT.", "Normal chest CT.", "No evidence of pneumonia."]},
    },
    "impression_sep": "; ",
    "stop": ".",
}

ZH = {
    "positive": {
        "consolidation": {
            "xray": {"lobar": ["{lobe}[见|可见]大片状实变影[，密度较均匀|，边界模糊|]{extra}。", "{lobe}呈大叶性实变[，边界模糊|]{extra}。"],
                     "segmental": ["{lobe}[见|可见][片状|斑片状]实变影[，边界模糊|]{extra}。", "{lobe}[见|可见]节段性实变影{extra}。"]},
            "ct": {"lobar": ["{lobe}[见|可见]大片状实变影[，密度较均匀|]{extra}。", "{lobe}呈大叶性实变{extra}。"],
                   "segmental": ["{lobe}[见|可见][片状|楔形]实变影{extra}。", "{lobe}[见|可见]节段性实变{extra}。"]},
        },
        "bronchopneumonia": {
            "xray": ["{dist}[中下野|中下肺野|内中带][可见|见][多发|散在]斑片状[模糊影|密度增高影]，[考虑|符合]支气管肺炎[改变|表现]。"],
            "ct": ["{dist}[沿支气管血管束|支气管周围][可见|见]多发斑片状[模糊影|高密度影]，[考虑|符合]支气管肺炎[改变|表现]。"],
        },
        "ground_glass": {"xray": ["{dist}[可见|见][片状|大片|淡薄]磨玻璃[密度影|影]。"],
                         "ct": ["{dist}[可见|见]多发[片状|斑片状]磨玻璃密度影[，边界模糊|]。"]},
        "pleural_effusion": {"xray": ["{side}侧{size}胸腔积液[，肋膈角变钝|，可见弧形液平面|]。", "{side}侧肋膈角变钝，考虑{size}胸腔积液。"],
                             "ct": ["{side}侧胸腔[可见|见]{size}[弧形|新月形]液性密度影，[考虑|提示]胸腔积液。"]},
        "pneumothorax": {"xray": ["{side}侧{size}气胸，[可见脏层胸膜线|可见压缩的肺组织边缘|外带肺纹理消失][，肺组织压缩约{pct}%|]。"],
                         "ct": ["{side}侧胸腔[前外侧|外侧]见气体密度影，{side}肺组织受压[约{pct}%|]，考虑气胸。"]},
        "atelectasis": {"xray": ["{side}下肺野[可见|见][条索状|线状|盘状]高密度影，[考虑|提示][盘状|局限性]肺不张。"],
                        "ct": ["{side}肺下叶[可见|见][条片状|线状]高密度影，[考虑|提示][盘状|亚段性]肺不张。"]},
        "cardiomegaly": {"xray": ["心影[明显|]增大[，心胸比约{ctr}|]。"], "ct": ["心脏[体积|]增大。"]},
        "hyperinflation": ["双肺透亮度增高，[膈肌低平|膈顶低平|肺容积增大]，[提示|考虑]肺过度充气。"],
        "nodule": {"xray": ["{lobe}[可见|见]一[类圆形|圆形]结节影，直径约{d}mm，边界清楚。"],
                   "ct": ["{lobe}[可见|见]一[实性|类圆形]结节，大小约{d}mm，边缘光整。"]},
    },
    "air_bronchogram": "，其内可见支气管充气征",
    "silhouette": {"RML": "，右心缘模糊", "RLL": "，右膈面模糊", "LLL": "，位于心影后方", "lingula": "，左心缘模糊"},
    "bilateral_effusion": ["双侧胸腔积液（右侧{size_r}，左侧{size_l}）。", "双侧胸腔[可见|见]积液，右侧{size_r}，左侧{size_l}。"],
    "bilateral_effusion_impression": "双侧胸腔积液",
    "impression": {
        "consolidation": ["{lobe}[肺炎|实变|大叶性肺炎|实变，考虑肺炎]"],
        "bronchopneumonia": ["[{dist}支气管肺炎|支气管肺炎]"],
        "ground_glass": ["{dist}磨玻璃影[，考虑感染性病变|]"],
        "pleural_effusion": ["{side}侧[{size}|]胸腔积液"],
        "pneumothorax": ["{side}侧气胸[（肺组织压缩约{pct}%）|]"],
        "atelectasis": ["{side}下肺[盘状|局限性]肺不张"],
        "cardiomegaly": ["[心影增大|心脏增大]"],
        "hyperinflation": ["[双肺过度充气|肺过度充气]"],
        "nodule": ["{lobe}结节[，建议随访|]"],
    },
    "negative": {
        "lungs_clear": {"xray": ["双肺纹理清晰，未见[明显|]实变影。", "双肺野清晰，未见异常密度影。", "双肺未见[明确|明显]实质性病变。"],
                        "ct": ["双肺未见[明确|明显]实变及磨玻璃影。", "双肺野清晰，未见异常密度影。", "肺实质未见异常。"]},
        "no_consolidation": ["未见大叶性实变。", "双肺未见[明确|]实变影。"],
        "no_nodule": ["双肺未见结节。", "未见[明确|]肺结节。"],
        "no_effusion_no_ptx": ["双侧胸腔未见积液及气胸。", "双侧肋膈角锐利，未见气胸。", "未见胸腔积液及气胸。"],
        "no_effusion": ["双侧胸腔未见积液。", "双侧肋膈角锐利。", "未见胸腔积液。"],
        "no_ptx": ["未见气胸。", "双侧胸腔未见气胸。"],
        "heart_normal": {"xray": ["心影大小[正常|未见异常]。", "心影不大。"], "ct": ["心脏大小正常。", "心脏未见增大。"]},
        "mediastinum": {"xray": ["纵隔居中。", "气管居中。", "双肺门[影|]未见[增大|异常]。"],
                        "ct": ["气管及主支气管通畅。", "纵隔内未见肿大淋巴结。"]},
        "volumes_normal": ["双肺[容积|透亮度]正常。"],
        "bones": ["[骨性胸廓|所见骨质]未见[明显|]异常。"],
        "impression_normal": {"xray": ["心肺未见[明显|]异常。", "胸部未见[明显|]异常。", "双肺未见[明显|]实质性病变。"],
                              "ct": ["胸部CT未见[明显|]异常。", "双肺未见[明显|]实质性病变。"]},
    },
    "impression_sep": "；",
    "stop": "。",
}
