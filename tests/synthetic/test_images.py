"""Synthetic images: shapes, ranges, determinism and agreement between labels, CT and radiograph."""

import numpy as np
import pytest

from medmllm.data.synthetic import SynthConfig, render_case
from medmllm.findings import ABNORMAL_KEYS, FINDING_KEYS, LOBES

CFG = SynthConfig(langs=("en",), tasks=())  # default image sizes: 128 x 128 radiograph, 32 x 64 x 64 CT
QUIET = SynthConfig(langs=("en",), tasks=(), noise=False)


def test_default_case_shapes_ranges_and_labels():
    case = render_case(0, 5, CFG)
    assert case.xray.shape == (128, 128) and case.xray.dtype == np.float32
    assert 0.0 <= case.xray.min() and case.xray.max() <= 1.0
    assert case.ct.shape == (32, 64, 64) and case.ct.dtype == np.float32
    assert np.array_equal(case.ct, np.rint(case.ct)) and -1024 <= case.ct.min() and case.ct.max() <= 3071
    assert set(case.labels) == set(FINDING_KEYS) and set(case.labels.values()) <= {0, 1}
    assert case.labels["normal"] == int(not any(case.labels[k] for k in ABNORMAL_KEYS))
    assert all(s > 0 for s in case.ct_spacing) and all(s > 0 for s in case.xray_spacing)
    # air outside the body, aerated lung inside: the CT corner is air, the lungs near -850 HU
    assert case.ct[:, 0, 0].max() < -900
    masks = render_case(0, 5, QUIET, masks=True, findings=[]).masks
    lung_hu = render_case(0, 5, QUIET, findings=[]).ct[masks["ct_lung"]]
    assert -900 < np.median(lung_hu) < -780


def test_same_seed_same_arrays_and_independent_streams():
    a, b = render_case(3, 7, CFG), render_case(3, 7, CFG)
    assert np.array_equal(a.xray, b.xray) and np.array_equal(a.ct, b.ct)
    assert a.reports == b.reports and a.labels == b.labels
    c = render_case(3, 8, CFG)
    assert not np.array_equal(a.ct, c.ct)
    # another image size changes neither the findings nor the text
    small = render_case(3, 7, SynthConfig(langs=("en",), tasks=(), xray_size=(64, 64), ct_shape=(16, 32, 32)))
    assert small.xray.shape == (64, 64) and small.ct.shape == (16, 32, 32)
    assert [f.key for f in small.findings] == [f.key for f in a.findings] and small.reports == a.reports
    # a numpy Generator as the seed works and is reproducible from the generator's state
    g1, g2 = np.random.default_rng(11), np.random.default_rng(11)
    assert np.array_equal(render_case(g1, 0, CFG).ct, render_case(g2, 0, CFG).ct)


def test_patient_right_is_image_left_and_ct_axes():
    """A right-sided effusion brightens the image's left half; on CT it fills low, right (small W) voxels."""
    base = render_case(1, 0, QUIET, findings=[])
    case = render_case(1, 0, QUIET, masks=True, findings=["pleural_effusion:right"])
    diff = case.xray - base.xray
    assert diff[:, :64].sum() > 20 * max(diff[:, 64:].sum(), 1e-3)
    fluid = case.masks["ct_lesions"]["pleural_effusion:right"]
    d, h, w = np.nonzero(fluid)
    assert w.mean() < 32 and d.mean() < 16  # patient's right = low W; inferior = low D
    assert h.mean() > 30  # layering posteriorly (H runs anterior -> posterior)


@pytest.mark.parametrize("lobe", LOBES)
def test_consolidation_raises_hu_in_its_lobe_not_in_the_mirror(lobe):
    case = render_case(2, 1, QUIET, masks=True, findings=[f"consolidation:{lobe}"])
    lobes, lung = case.masks["ct_lobes"], case.masks["ct_lung"]
    own = lobes == LOBES.index(lobe) + 1
    mirror = own[:, :, ::-1] & lung & (lobes != LOBES.index(lobe) + 1)
    assert own.sum() > 50 and mirror.sum() > 20
    gap = case.ct[own].mean() - case.ct[mirror].mean()
    assert gap > 150, f"{lobe}: lobe mean {case.ct[own].mean():.0f} HU vs mirror {case.ct[mirror].mean():.0f} HU"
    lesion = case.masks["ct_lesions"][f"consolidation:{lobe}"]
    assert (lesion & ~own).sum() == 0  # it respects the fissures
    twin = lesion[:, :, ::-1] & lung
    assert case.ct[lesion].mean() > -200 and case.ct[twin].mean() < -700
    # control: the same patient without the lesion is symmetric within a few tens of HU
    normal = render_case(2, 1, QUIET, findings=[])
    assert abs(normal.ct[own].mean() - normal.ct[mirror].mean()) < 60
    # the radiograph is brighter over the lesion than over its mirror image (where both are lung fields)
    foot = case.masks["xray_lesions"][f"consolidation:{lobe}"]
    assert foot[:, :64].any() == (lobe[0] == "R") and foot[:, 64:].any() == (lobe[0] == "L")
    fields = (normal.xray < 0.45) & (normal.xray[:, ::-1] < 0.45)
    zone = foot & fields & ~foot[:, ::-1]
    assert zone.sum() > 20
    assert case.xray[zone].mean() - case.xray[:, ::-1][zone].mean() > 0.08


def test_retrocardiac_left_lower_lobe_consolidation_stays_visible():
    """Behind the heart the lesion adds density: the heart shadow gets brighter, not unchanged."""
    base = render_case(4, 2, QUIET, findings=[])
    case = render_case(4, 2, QUIET, masks=True, findings=["consolidation:LLL"])
    heart = (base.xray > 0.55) & case.masks["xray_lesions"]["consolidation:LLL"]
    heart[:, :64] = False  # the left half of the patient (image right)
    assert heart.sum() > 30
    assert (case.xray[heart] - base.xray[heart]).mean() > 0.04


@pytest.mark.parametrize("key", [k for k in ABNORMAL_KEYS if not k.startswith("consolidation")])
def test_every_finding_changes_both_images_where_its_mask_is(key):
    """CT HU and radiograph brightness inside each lesion change against the same patient without it."""
    base = render_case(6, 3, QUIET, masks=True, findings=[])
    case = render_case(6, 3, QUIET, masks=True, findings=[key])
    if key == "cardiomegaly":  # more bright mediastinal pixels at heart level, fewer lung voxels
        rows = slice(60, 100)
        assert (case.xray[rows] > 0.5).sum() > 1.15 * (base.xray[rows] > 0.5).sum()
        assert case.masks["ct_lung"].sum() < 0.95 * base.masks["ct_lung"].sum()
        return
    if key == "hyperinflation":  # bigger, darker lungs
        assert case.masks["ct_lung"].sum() > 1.1 * base.masks["ct_lung"].sum()
        assert case.ct[case.masks["ct_lung"]].mean() < base.ct[base.masks["ct_lung"]].mean() - 20
        assert case.xray[40:90].mean() < base.xray[40:90].mean() - 0.01
        return
    m3, m2 = case.masks["ct_lesions"][key], case.masks["xray_lesions"][key]
    assert m3.sum() > 5 and m2.sum() > 5
    d_hu = case.ct[m3].mean() - base.ct[m3].mean()
    d_x = case.xray[m2].mean() - base.xray[m2].mean()
    if key.startswith("pneumothorax"):  # free air: darker than aerated lung
        assert d_hu < -80 and d_x < -0.01, (d_hu, d_x)
        return
    assert d_hu > 200 and d_x > 0.02, (d_hu, d_x)
    side = key.partition(":")[2]
    if side:  # lateral findings: the mirror side of the radiograph is unchanged
        other = m2[:, ::-1] & ~m2
        assert abs((case.xray[other] - base.xray[other]).mean()) < 0.2 * d_x
