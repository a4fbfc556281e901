"""Whole reports in real report style, written after the rules, for a held-out accuracy figure.

Same format as ``labeler_cases.CASES``: ``(category, lang, text, expected)`` (category is the
report style). The first run of the labeler on this set, before any rule was changed for it, is
recorded in the README's evaluation section.
"""

HELDOUT = [
    ("iu_style", "en",
     "The heart is normal in size. The mediastinum is unremarkable. The lungs are clear. IMPRESSION: Normal chest.",
     {"No Finding": 1, "normal": 1, "Cardiomegaly": 0, "Enlarged Cardiomediastinum": 0}),
    ("iu_style", "en",
     "Heart size within normal limits. No focal airspace disease. No pneumothorax or pleural effusion. "
     "Calcified granuloma in the right upper lobe. Degenerative changes of the thoracic spine.",
     {"Cardiomegaly": 0, "Pneumothorax": 0, "Pleural Effusion": 0, "Lung Opacity": 0}),
    ("iu_style", "en",
     "XXXX XXXX and lateral chest. Cardiomegaly. Low lung volumes with bibasilar atelectasis. "
     "No XXXX pleural effusion. IMPRESSION: 1. Cardiomegaly. 2. Bibasilar atelectasis.",
     {"Cardiomegaly": 1, "Atelectasis": 1, "atelectasis": 1, "Pleural Effusion": 0, "No Finding": 0,
      "normal": 0}),
    ("iu_style", "en",
     "The cardiomediastinal silhouette is within normal limits for appearance. The thoracic aorta is tortuous. "
     "There is a focal airspace opacity in the right lower lobe. No pneumothorax. "
     "IMPRESSION: Right lower lobe pneumonia.",
     {"Cardiomegaly": 0, "Lung Opacity": 1, "Pneumonia": 1, "consolidation:RLL": 1, "Pneumothorax": 0,
      "consolidation:LLL": None}),
    ("iu_style", "en",
     "Stable enlarged cardiac silhouette. Pulmonary vascular congestion and small bilateral pleural effusions, "
     "consistent with mild congestive heart failure. No pneumothorax.",
     {"Cardiomegaly": 1, "Edema": 1, "pleural_effusion:left": 1, "pleural_effusion:right": 1, "Pneumothorax": 0}),
    ("iu_style", "en",
     "Hyperexpanded lungs, consistent with COPD. No focal consolidation. Heart size normal.",
     {"hyperinflation": 1, "Consolidation": 0, "Cardiomegaly": 0, "normal": 0}),
    ("iu_style", "en",
     "Interval placement of a right internal jugular central venous catheter with tip in the SVC. "
     "No pneumothorax. Lungs are clear.",
     {"Support Devices": 1, "Pneumothorax": 0, "pneumothorax:right": 0, "No Finding": 1}),
    ("iu_style", "en",
     "There is a 1.5 cm nodule in the left upper lobe. Recommend CT for further evaluation. "
     "No acute cardiopulmonary process.",
     {"nodule": 1, "Lung Lesion": 1, "normal": 0}),
    ("iu_style", "en",
     "Chronic right-sided rib fractures. The lungs are hyperinflated. No pleural effusion.",
     {"Fracture": 1, "hyperinflation": 1, "Pleural Effusion": 0}),
    ("iu_style", "en",
     "Left basilar opacity may reflect atelectasis, although pneumonia cannot be excluded. Heart is mildly enlarged.",
     {"Lung Opacity": 1, "Atelectasis": None, "Pneumonia": None, "Cardiomegaly": 1, "consolidation:LLL": None,
      "possible": {"Pneumonia", "Atelectasis", "consolidation:LLL", "atelectasis"}}),
    ("mimic_style", "en",
     "FINDINGS: PA and lateral views of the chest. There is a moderate right pleural effusion with adjacent "
     "compressive atelectasis. The left lung is clear. The cardiac silhouette is top-normal. "
     "IMPRESSION: Moderate right pleural effusion.",
     {"pleural_effusion:right": 1, "pleural_effusion:left": None, "Atelectasis": 1, "Cardiomegaly": 0,
      "consolidation:LLL": 0}),
    ("mimic_style", "en",
     "INDICATION: Fever, evaluate for pneumonia. COMPARISON: None. FINDINGS: Lungs are well expanded and clear. "
     "No pleural effusion or pneumothorax. Cardiomediastinal silhouette is normal. IMPRESSION: No pneumonia.",
     {"Pneumonia": 0, "No Finding": 1, "normal": 1, "Pleural Effusion": 0}),
    ("mimic_style", "en",
     "Endotracheal tube terminates 3 cm above the carina. Nasogastric tube courses below the diaphragm. "
     "Patchy opacities at the lung bases likely reflect atelectasis, but aspiration is not excluded.",
     {"Support Devices": 1, "Lung Opacity": 1, "Atelectasis": -1, "Pneumonia": None, "possible": {"Pneumonia"}}),
    ("mimic_style", "en",
     "Small left apical pneumothorax is unchanged. Left chest tube in place. No new consolidation.",
     {"pneumothorax:left": 1, "pneumothorax:right": None, "Support Devices": 1, "Consolidation": 0}),
    ("mimic_style", "en",
     "Compared to prior, the right pleural effusion has decreased in size. Mild interstitial edema has improved. "
     "Heart size is enlarged but stable.",
     {"pleural_effusion:right": 1, "Edema": 1, "Cardiomegaly": 1}),
    ("mimic_style", "en",
     "Diffuse bilateral airspace opacities, worse in the right lung, concerning for multifocal pneumonia "
     "or ARDS. No large effusion.",
     {"Lung Opacity": 1, "Pneumonia": None, "Pleural Effusion": 0, "possible": {"Pneumonia"}}),
    ("mimic_style", "en",
     "No evidence of acute cardiopulmonary disease. Specifically, no consolidation, edema, or effusion.",
     {"No Finding": 1, "Consolidation": 0, "Edema": 0, "Pleural Effusion": 0, "consolidation:RUL": 0}),
    ("mimic_style", "en",
     "Left lower lobe collapse. Right lung is clear. Moderate cardiomegaly.",
     {"Atelectasis": 1, "Cardiomegaly": 1, "consolidation:RLL": 0, "consolidation:LLL": None}),
    ("pediatric_style", "en",
     "Findings: Patchy opacities in both lungs along the bronchovascular bundles, in keeping with bronchopneumonia. "
     "No pleural effusion. The heart is not enlarged. Impression: Bronchopneumonia.",
     {"bronchopneumonia": 1, "Pneumonia": 1, "pleural_effusion:left": 0, "cardiomegaly": 0, "normal": 0}),
    ("pediatric_style", "en",
     "Findings: Dense consolidation of the right upper lobe with air bronchograms. Small right pleural effusion. "
     "Left lung clear. Impression: Right upper lobe lobar pneumonia with small parapneumonic effusion.",
     {"consolidation:RUL": 1, "consolidation:LUL": 0, "pleural_effusion:right": 1, "pleural_effusion:left": None,
      "Pneumonia": 1}),
    ("pediatric_style", "en",
     "Findings: Lungs are hyperinflated with peribronchial thickening. No focal consolidation. "
     "Impression: Findings may represent viral illness or reactive airway disease.",
     {"hyperinflation": 1, "Consolidation": 0, "consolidation:RML": 0}),
    ("pediatric_style", "en",
     "Findings: Ground-glass opacities in the left lower lobe. No pneumothorax. Heart size normal. "
     "Impression: Left lower lobe ground-glass opacity, possibly early infection.",
     {"ground_glass": 1, "Pneumonia": None, "Pneumothorax": 0, "cardiomegaly": 0, "possible": {"Pneumonia"}}),
    ("pediatric_style", "en",
     "Findings: Consolidation in the right middle lobe and left lower lobe. Trace bilateral pleural effusions. "
     "Impression: Multifocal pneumonia.",
     {"consolidation:RML": 1, "consolidation:LLL": 1, "consolidation:RLL": None, "pleural_effusion:left": 1,
      "pleural_effusion:right": 1}),
    ("pediatric_style", "en",
     "Findings: Large left pneumothorax with mediastinal shift to the right. No effusion. "
     "Impression: Large left pneumothorax.",
     {"pneumothorax:left": 1, "pneumothorax:right": None, "Pleural Effusion": 0}),
    # Chinese, pediatric-pneumonia style
    ("pediatric_style", "zh", "检查所见：双肺纹理增粗，右肺下叶见大片实变影，右侧肋膈角变钝。心影不大。印象：右肺下叶大叶性肺炎，右侧少量胸腔积液。",
     {"consolidation:RLL": 1, "consolidation:LLL": None, "pleural_effusion:right": 1, "Cardiomegaly": 0,
      "Pneumonia": 1}),
    ("pediatric_style", "zh", "所见：双肺纹理清晰，未见明显实变影。心影大小正常。双侧肋膈角锐利。印象：胸部未见明显异常。",
     {"normal": 1, "Consolidation": 0, "Cardiomegaly": 0, "pleural_effusion:left": 0}),
    ("pediatric_style", "zh", "所见：两肺纹理增多模糊，两下肺内带见斑片状模糊影。印象：支气管肺炎。",
     {"bronchopneumonia": 1, "Pneumonia": 1, "normal": 0}),
    ("pediatric_style", "zh", "所见：左肺上叶见磨玻璃密度影，未见胸腔积液及气胸。印象：左肺上叶磨玻璃影，考虑感染。",
     {"ground_glass": 1, "Pneumonia": -1, "Pleural Effusion": 0, "pneumothorax:left": 0}),
    ("pediatric_style", "zh", "所见：右侧胸腔见气体密度影，右肺受压约30%。印象：右侧气胸。",
     {"pneumothorax:right": 1, "pneumothorax:left": None}),
    ("pediatric_style", "zh", "所见：右肺中叶见片状实变影，邻近胸膜增厚。心影增大。印象：右肺中叶肺炎，心影增大，请结合临床。",
     {"consolidation:RML": 1, "Pleural Other": 1, "cardiomegaly": 1, "Cardiomegaly": 1}),
    ("pediatric_style", "zh", "所见：双肺透亮度增高，膈肌低平。印象：双肺过度充气，不除外毛细支气管炎。",
     {"hyperinflation": 1, "normal": 0}),
    ("pediatric_style", "zh", "所见：左肺下叶结节影，直径约5mm。余未见异常。印象：左肺下叶小结节。",
     {"nodule": 1, "Lung Lesion": 1, "normal": 0}),
    ("pediatric_style", "zh", "所见：左肺下叶实变较前明显吸收，左侧胸腔积液已吸收。印象：肺炎较前好转。",
     {"consolidation:LLL": 1, "pleural_effusion:left": 0}),
    ("pediatric_style", "zh", "所见：双侧胸腔少量积液，双肺下叶部分不张。印象：双侧胸腔积液伴双下肺不张。",
     {"pleural_effusion:left": 1, "pleural_effusion:right": 1, "Atelectasis": 1, "atelectasis": 1}),
]
