"""medmllm.io: read medical images (DICOM, DICOM series/zip, NIfTI, NRRD, PNG/JPEG/TIFF, cine clips and video
files) and de-identify DICOM.

``load_image(path)`` dispatches on the file's content and returns a :class:`MedicalImage` in the
layout of CONTRACTS.md. Only numpy is imported here; pydicom, nibabel and Pillow load on use.
Modules, bottom up: ``errors`` and ``types`` (shared types, limits, checks), ``detect`` (sniff),
``streams`` (bounded decompression), ``orient``, the readers (``dicom`` + ``dicom_xray`` /
``dicom_ct`` / ``dicom_cine`` / ``dicom_file``, ``series``, ``archive``, ``nifti``, ``nrrd_volume``,
``raster``, ``video_file``), ``frames`` (which frames of a clip to read) and the dispatchers ``image``
and ``video`` (``load_video``: a clip with its frames sampled) on top.
"""

from medmllm.io.errors import ImageLoadError
from medmllm.io.image import load_image
from medmllm.io.types import DEFAULT_MAX_BYTES, MedicalImage
from medmllm.io.detect import sniff
from medmllm.io.video import load_video

__all__ = ["DEFAULT_MAX_BYTES", "ImageLoadError", "MedicalImage", "load_image", "load_video", "sniff"]
