"""Masking burned-in text: black rectangles written into every frame of a DICOM image.

De-identification never guesses where text is written into the pixels (ultrasound and endoscopy
frames carry names and dates there as a rule); files that may hold it are flagged. With
``medmllm deid --mask X,Y,W,H`` the user names the regions (the text banner of an ultrasound
machine is at the same place on every frame): they are set to black on every frame and the pixel
data is stored uncompressed (pydicom re-encodes it; the transfer syntax becomes Explicit VR Little
Endian). Text outside the regions stays and the file is still reported.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from medmllm.errors import InputError

Region = tuple[int, int, int, int]  # x (column), y (row), width, height in pixels


def parse_region(text: str) -> Region:
    """``'0,0,640,40'`` -> ``(0, 0, 640, 40)`` (x, y, width, height; width and height > 0)."""
    try:
        parts = tuple(int(p) for p in str(text).split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or parts[0] < 0 or parts[1] < 0 or parts[2] < 1 or parts[3] < 1:
        raise InputError(None, f"--mask {text!r}: expected X,Y,WIDTH,HEIGHT in pixels (e.g. 0,0,640,40)")
    return parts  # type: ignore[return-value]


def _black(ds: Any, photometric: str, arr: np.ndarray) -> Any:
    """The stored value that displays black."""
    if photometric == "MONOCHROME1":
        return 2 ** int(ds.get("BitsStored", 8)) - 1
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        n = 2 ** int(ds.get("BitsStored", 8))
        lut = apply_color_lut(np.arange(n, dtype=arr.dtype), ds).astype(np.float64)
        return int(np.argmin(lut.sum(axis=-1)))
    return np.iinfo(arr.dtype).min if arr.dtype.kind == "i" else 0


def mask_regions(ds: Any, regions: Sequence[Region]) -> str:
    """Black out ``regions`` on every frame of ``ds`` (in place) and re-encode its pixel data uncompressed.

    Returns:
        A sentence for the report (what was masked, and that text elsewhere remains).

    Raises:
        InputError: a region that lies wholly outside the image.
    """
    from pydicom.pixels import pixel_array

    from medmllm.io.types import DEFAULT_MAX_BYTES, human_bytes

    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    nbytes = rows * cols * frames * int(ds.get("SamplesPerPixel", 1) or 1) * (-(-int(ds.get("BitsAllocated", 8)) // 8))
    if nbytes > DEFAULT_MAX_BYTES:
        raise InputError(None, f"masking decodes {human_bytes(nbytes)} of pixels, over the limit of "
                               f"{human_bytes(DEFAULT_MAX_BYTES)}")
    for x, y, w, h in regions:
        if x >= cols or y >= rows:
            raise InputError(None, f"--mask {x},{y},{w},{h} lies outside the {cols} x {rows} image")
    arr = pixel_array(ds)  # colour in RGB (YBR converted), palette as indices
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric.startswith("YBR"):
        photometric = "RGB"
    view = arr if frames > 1 else arr[None]  # (T, H, W[, C])
    black = _black(ds, photometric, arr)
    for x, y, w, h in regions:
        view[:, y:y + h, x:x + w] = black
    ds.set_pixel_data(arr, photometric, int(ds.get("BitsStored", 8)), generate_instance_uid=False)
    shown = "; ".join(f"{x},{y},{w},{h}" for x, y, w, h in regions)
    return f"{len(regions)} region(s) masked on {frames} frame(s) (x,y,w,h: {shown}); text elsewhere is not removed"
