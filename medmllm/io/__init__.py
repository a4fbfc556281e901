"""medmllm.io: read medical images (DICOM, DICOM series/zip, NIfTI, NRRD, PNG/JPEG/TIFF) and de-identify DICOM.

``load_image(path)`` dispatches on the file's content and returns a :class:`MedicalImage` in the
layout of CONTRACTS.md. Only numpy is imported here; pydicom, nibabel and Pillow load on use.
"""

from medmllm.io.errors import ImageLoadError
from medmllm.io.image import DEFAULT_MAX_BYTES, MedicalImage, load_image, sniff

__all__ = ["DEFAULT_MAX_BYTES", "ImageLoadError", "MedicalImage", "load_image", "sniff"]
