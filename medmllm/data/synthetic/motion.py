"""Clips for the video slot's learnability probe: which way does the object move?

:func:`moving_object_clips` draws clips of a bright square drifting left or right over noise. The
start is drawn so that the square's position in the *middle* frame has the same distribution for
both directions: a model that sees one frame (the middle one, which is what uniform sampling of one
frame gives) is at chance; only the order of frames tells the direction. The probe that trains a
model on them is :mod:`medmllm.training.probes`.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

DIRECTIONS = ("left", "right")
QUESTION = "<video>\nWhich way does the object move?"


def moving_object_clips(n: int, frames: int = 8, size: int = 32, *, seed: int = 0, square: int = 6,
                        step: int = 2, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clips ``(n, frames, size, size)`` in [0, 1] and their direction (0 left, 1 right).

    The square moves ``step`` pixels per frame; its position in the middle frame (index
    ``frames // 2``, the one uniform sampling of one frame picks) is uniform over the same range for
    both directions.
    """
    rng = np.random.default_rng(seed)
    reach = step * (frames // 2)  # the farthest the square gets from its middle-frame position
    if 2 * reach + square >= size:
        raise ValueError(f"a {square}-pixel square moving {step * (frames - 1)} pixels does not fit {size} pixels")
    clips = rng.normal(0.2, noise, size=(n, frames, size, size))
    labels = rng.integers(0, 2, size=n)
    t = np.arange(frames) - frames // 2  # frames from the middle one
    for i in range(n):
        mid = rng.integers(reach, size - square - reach + 1)  # left edge in the middle frame
        y = rng.integers(0, size - square + 1)
        xs = np.rint(mid + (1 if labels[i] else -1) * step * t).astype(int)
        for k, x in enumerate(xs):
            clips[i, k, y:y + square, x:x + square] = 0.9
    return np.clip(clips, 0.0, 1.0).astype(np.float32), labels
