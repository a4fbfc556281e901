"""Lung lobes in normalised body coordinates: where each lobe's centre lies, which lobe a point is in.

Coordinates as in :mod:`.population`: ``x`` from the patient's right (-1) to left (+1), ``y`` from
anterior (-1) to posterior (+1), ``z`` from inferior (-1) to superior (+1). The phantom paints the
lobes with :func:`lobe_of`; the population places lesions with it and with the lobe centres.
"""

from __future__ import annotations

import numpy as np

from medmllm.findings import LOBES

Y_CENTRE = 0.02  # the chest's anteroposterior centre line

# Canonical centres of the lobes (normalised x, y, z), used to place lesions inside them.
LOBE_CENTRES: dict[str, tuple[float, float, float]] = {
    "RUL": (-0.42, -0.04, 0.42), "RML": (-0.36, -0.30, -0.20), "RLL": (-0.42, 0.24, -0.20),
    "LUL": (0.42, -0.04, 0.38), "LLL": (0.40, 0.24, -0.24),
}
LINGULA_CENTRE = (0.36, -0.30, -0.18)


def lobe_of(Z: np.ndarray, Y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Lobe number (``i + 1`` for ``LOBES[i]``) of points assumed to lie in a lung.

    Oblique fissures rise from the front of the diaphragm to the back of the upper chest; the
    horizontal fissure splits the right upper and middle lobes.
    """
    lower = Z < (-0.05 + 0.9 * (Y - Y_CENTRE))
    right = X < 0
    r_upper = np.where(Z < 0.0, LOBES.index("RML") + 1, LOBES.index("RUL") + 1)
    return np.where(right, np.where(lower, LOBES.index("RLL") + 1, r_upper),
                    np.where(lower, LOBES.index("LLL") + 1, LOBES.index("LUL") + 1)).astype(np.uint8)
