"""Rendered text for the tests (AnyRes probe, burned-in text detector): Latin with Pillow's bundled font,
Chinese with a CJK font when the machine has one, else with a small bitmap glyph set drawn here.

``CJK_SOURCE`` says which: ``"font:<file>"`` or ``"bitmap"``. The glyphs are simple characters drawn on an
11 x 11 grid and scaled to the text size; they are not a font, but they have the strokes, the
closed boxes and the crossings that make Chinese text look like Chinese text to a detector or a model.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

GLYPHS = {
    "中": ["     #     ", " ######### ", " #   #   # ", " #   #   # ", " #   #   # ", " ######### ",
          "     #     ", "     #     ", "     #     ", "     #     ", "     #     "],
    "日": ["  #######  ", "  #     #  ", "  #     #  ", "  #     #  ", "  #######  ", "  #     #  ",
          "  #     #  ", "  #     #  ", "  #######  ", "           ", "           "],
    "田": [" ######### ", " #   #   # ", " #   #   # ", " #   #   # ", " ######### ", " #   #   # ",
          " #   #   # ", " #   #   # ", " ######### ", "           ", "           "],
    "王": [" ######### ", "     #     ", "     #     ", "     #     ", "  #######  ", "     #     ",
          "     #     ", "     #     ", "###########", "           ", "           "],
    "工": [" ######### ", "     #     ", "     #     ", "     #     ", "     #     ", "     #     ",
          "     #     ", "     #     ", "###########", "           ", "           "],
    "口": ["           ", " ######### ", " #       # ", " #       # ", " #       # ", " #       # ",
          " #       # ", " ######### ", "           ", "           ", "           "],
    "目": ["  #######  ", "  #     #  ", "  #######  ", "  #     #  ", "  #######  ", "  #     #  ",
          "  #######  ", "  #     #  ", "  #######  ", "           ", "           "],
    "山": ["     #     ", "     #     ", " #   #   # ", " #   #   # ", " #   #   # ", " #   #   # ",
          " #   #   # ", " ######### ", "           ", "           ", "           "],
    "上": ["     #     ", "     #     ", "     ####  ", "     #     ", "     #     ", "     #     ",
          "     #     ", "###########", "           ", "           ", "           "],
    "下": ["###########", "     #     ", "     ##    ", "     # #   ", "     #  #  ", "     #     ",
          "     #     ", "     #     ", "     #     ", "           ", "           "],
    "张": ["###  ##  # ", "  #  #  #  ", "###  # #   ", "#    ##    ", "###  #######", "  #  # #   ",
          "  #  #  #  ", "# #  #   # ", "###  #    #", "           ", "           "],
    "伟": ["  #   #    ", "  # ###### ", " #    #    ", " ## ##### ", "# #   #  # ", "  # ###### ",
          "  #   #  # ", "  #   # ## ", "  #   #    ", "           ", "           "],
}


def _cjk_font_file() -> str | None:
    """A font file the machine has that covers the glyphs, or None (fontconfig's choice for Chinese)."""
    if shutil.which("fc-match") is None:
        return None
    try:
        path = subprocess.run(["fc-match", "-f", "%{file}", ":lang=zh-cn"], capture_output=True, text=True,
                              timeout=20).stdout.strip()
        from fontTools.ttLib import TTFont

        cmap = TTFont(path, fontNumber=0, lazy=True)["cmap"].getBestCmap()
    except Exception:  # noqa: BLE001 - no usable font: the bitmap glyphs are drawn instead
        return None
    return path if all(ord(c) in cmap for c in GLYPHS) else None


_CJK_FILE = _cjk_font_file()
CJK_SOURCE = f"font:{_CJK_FILE}" if _CJK_FILE else "bitmap"


@lru_cache(maxsize=None)
def latin_font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=None)
def _cjk_font(size: int) -> ImageFont.FreeTypeFont | None:
    return ImageFont.truetype(_CJK_FILE, size) if _CJK_FILE else None


def _is_cjk(c: str) -> bool:
    return "\u3400" <= c <= "\u9fff"


def text_mask(text: str, size: int) -> np.ndarray:
    """``(h, w)`` float mask in [0, 1] of ``text`` rendered ``size`` pixels high (Latin and Chinese mixed)."""
    pieces = []
    for c in text:
        if _is_cjk(c) and _cjk_font(size) is None:
            g = np.array([[ch == "#" for ch in row.ljust(11)[:11]] for row in GLYPHS[c]], dtype=np.float32)
            img = Image.fromarray((g * 255).astype(np.uint8)).resize((size, size), Image.NEAREST)
            piece = np.asarray(img, dtype=np.float32) / 255.0
            piece = np.pad(piece, ((0, 0), (0, max(1, size // 8))))
        else:
            font = _cjk_font(size) if _is_cjk(c) else latin_font(size)
            w = max(1, int(np.ceil(font.getlength(c))))
            img = Image.new("L", (w, size + size // 3))
            ImageDraw.Draw(img).text((0, 0), c, font=font, fill=255)
            piece = np.asarray(img, dtype=np.float32)[:size] / 255.0
        pieces.append(piece)
    return np.concatenate(pieces, axis=1)


def burn(frame: np.ndarray, text: str, xy: tuple[int, int], size: int, value: float = 1.0) -> np.ndarray:
    """``frame`` (2D, float) with ``text`` written at ``xy`` = (x, y) in ``value`` (alpha-blended, clipped)."""
    m = text_mask(text, size)
    x, y = xy
    h, w = min(m.shape[0], frame.shape[0] - y), min(m.shape[1], frame.shape[1] - x)
    out = frame.copy()
    region = out[y:y + h, x:x + w]
    out[y:y + h, x:x + w] = region * (1 - m[:h, :w]) + value * m[:h, :w]
    return out


# ---- frames with and without burned-in text (the detector's fixtures) --------------------------------

NAMES = ("ZHANG WEI", "DOE^JANE", "LI NA", "张伟", "王中日", "MARTIN^PAUL", "田中", "CHEN XIAO")
STAMPS = ("2023-05-14", "14:32:07", "ID 004512", "DOB 1984/03/02", "ACC 77120", "05/25/2011", "MRN 88213")


def xray_frame(seed: int, size: int = 512) -> np.ndarray:
    """A synthetic chest radiograph (medmllm's own phantom), ``(size, size)`` in [0, 1]."""
    from medmllm.data.synthetic import SynthConfig, render_case

    cfg = SynthConfig(xray_size=(size, size), langs=("en",), tasks=(), render_ct=False)
    return render_case(1000 + seed, seed, cfg).xray.astype(np.float32)


def us_frame(seed: int, shape: tuple[int, int] = (480, 640)) -> np.ndarray:
    """An ultrasound-like frame: a speckled sector on black, brighter near the probe, ``(H, W)`` in [0, 1]."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    apex_y, apex_x = 40.0, w / 2
    r, ang = np.hypot(yy - apex_y, xx - apex_x), np.arctan2(xx - apex_x, yy - apex_y)
    sector = (r > 30) & (r < h - 50) & (np.abs(ang) < 0.7)
    speckle = ndimage.gaussian_filter(rng.rayleigh(1.0, shape).astype(np.float32), 1.2)
    tissue = ndimage.gaussian_filter(rng.random(shape).astype(np.float32), 25) * 2
    frame = speckle * (0.4 + tissue) * np.exp(-r / (1.5 * h))
    return np.clip(frame / np.percentile(frame[sector], 99.5), 0, 1) * sector


def with_text(frame: np.ndarray, seed: int, lines: int = 2) -> np.ndarray:
    """``frame`` with ``lines`` lines of a name and identifiers burned in (random size, place, polarity)."""
    rng = np.random.default_rng(10_000 + seed)
    h, w = frame.shape
    out = frame
    for k in range(lines):
        text = f"{NAMES[rng.integers(len(NAMES))]} {STAMPS[rng.integers(len(STAMPS))]}"
        size = int(rng.integers(12, 24))
        width = text_mask(text, size).shape[1]
        x = int(rng.integers(0, max(1, w - width)))
        y = int(rng.integers(0, max(1, h // 6 - size))) if k == 0 else int(rng.integers(h - h // 6, h - size))
        value = 1.0 if frame[y:y + size, x:x + width].mean() < 0.6 or rng.random() < 0.7 else 0.0
        out = burn(out, text, (x, y), size, value)
    return out
