"""IU X-ray (Indiana University chest X-ray collection, OpenI) as distributed.

Layout: ``ecgen-radiology/<n>.xml`` (one report each) and ``NLMCXR_png/<image id>.png``. A report
XML holds ``uId id="CXR1"``, ``AbstractText`` elements labelled ``COMPARISON``, ``INDICATION``,
``FINDINGS``, ``IMPRESSION``, the MeSH indexing (``MeSH/major``, ``MeSH/automatic``) and one
``parentImage id="CXR1_1_IM-0001-3001"`` per image (the PNG of the same name).

One record per report with all its images (frontal and lateral: the release does not say which
is which, so every image is kept in the XML's order). The indication is the clinical context of
the prompt; comparison is kept in ``meta.sections``; MeSH terms in ``meta.mesh`` and, mapped where
clean, the 14 CheXpert observations in ``meta.chexpert`` (:mod:`.iu_mesh`). The ``XXXX``
de-identification masks are kept as ``XXXX`` (the published reference reports hold them); a section
of masks and punctuation only is empty. Each report is one patient (the release links no two
reports to one person), split 70/10/20 by a hash of the report id (``--split auto``; the
proportions of R2Gen's split; for R2Gen's exact split use the ``r2gen`` format).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from medmllm.data.formats.common import Conversion, hash_split, images_ok, note_split_counts
from medmllm.data.formats.iu_mesh import mesh_chexpert
from medmllm.data.formats.public import add_report_record, check_target
from medmllm.data.formats.sections import is_empty, normalise_masks, tidy
from medmllm.data.schema import SPLITS
from medmllm.errors import InputError
from medmllm.registry import FORMATS

SECTIONS = ("FINDINGS", "IMPRESSION", "INDICATION", "COMPARISON")
XML_DIR = "ecgen-radiology"
PNG_DIR = "NLMCXR_png"


def _number(p: Path) -> tuple[int, str]:
    m = re.match(r"(\d+)", p.stem)
    return (int(m.group(1)) if m else 1 << 30, p.name)


def _folders(src: Path, images: str | Path | None) -> tuple[Path, Path]:
    xml_dir = src / XML_DIR if (src / XML_DIR).is_dir() else src
    if not any(xml_dir.glob("*.xml")):
        raise InputError(src, f"no report XML files (expected {XML_DIR}/*.xml)")
    if images is not None:
        return xml_dir, Path(images)
    for cand in (src / PNG_DIR, xml_dir.parent / PNG_DIR):
        if cand.is_dir():
            return xml_dir, cand
    raise InputError(src, f"no {PNG_DIR} folder beside {XML_DIR}; give the PNG folder with --images")


def parse_report_xml(path: Path) -> dict:
    """``{"id", "sections": {LABEL: text}, "images": [ids], "mesh": {"major": [...], "automatic": [...]}}``."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"not valid XML ({e})") from None
    uid = root.find("uId")
    sections = {}
    for el in root.iter("AbstractText"):
        label = str(el.get("Label", "")).strip().upper()
        if label:
            sections[label] = tidy("".join(el.itertext()))
    mesh = {kind: [tidy(e.text) for e in root.iter(kind) if e.text and e.text.strip()] for kind in ("major", "automatic")}
    return {"id": uid.get("id") if uid is not None else None, "sections": sections,
            "images": [im.get("id") for im in root.iter("parentImage") if im.get("id")], "mesh": mesh}


@FORMATS.register("iu-xray")
def convert_iu_xray(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                    check_images: bool = True, target: str = "findings", context: bool = True) -> Conversion:
    """Convert the IU X-ray release (report XMLs + PNGs).

    Args:
        src: the folder holding ``ecgen-radiology/`` and ``NLMCXR_png/`` (or the XML folder).
        images: the PNG folder (default: ``NLMCXR_png`` beside the XMLs).
        split: ``auto`` (default: 70/10/20 by a hash of the report id) or one split for all.
        check_images: skip reports whose PNG file does not exist.
        target: ``findings`` (default) or ``findings-impression``.
        context: put the indication in the prompt as clinical context.

    Returns:
        The records and the count of skipped reports per reason.
    """
    src = Path(src)
    check_target(target)
    if split not in (None, "auto") and split not in SPLITS:
        raise InputError(None, f"--split: '{split}' is not auto or one of {', '.join(SPLITS)}")
    xml_dir, root = _folders(src, images)
    conv = Conversion(image_root=root)
    masks = 0
    for f in sorted(xml_dir.glob("*.xml"), key=_number):
        try:
            rep = parse_report_xml(f)
        except ValueError:
            conv.skip("report XML is not valid XML", f.name)
            continue
        sid = rep["id"] or f"CXR{f.stem}"
        if not rep["images"]:
            conv.skip("no images (no parentImage)", sid)
            continue
        paths = [f"{i}.png" for i in rep["images"]]
        if not images_ok(conv, root, paths, sid, check_images):
            continue
        sec, n_masks = {}, 0
        for label, text in rep["sections"].items():
            sec[label], n = normalise_masks(text, "XXXX")
            n_masks += n
        findings, impression = sec.get("FINDINGS", ""), sec.get("IMPRESSION", "")
        findings, impression = ("" if is_empty(findings) else findings), ("" if is_empty(impression) else impression)
        indication = sec.get("INDICATION", "")
        chexpert = mesh_chexpert(rep["mesh"]["major"])
        others = {k.lower(): v for k, v in sec.items() if k not in ("FINDINGS", "IMPRESSION") and not is_empty(v)}
        masks += n_masks if add_report_record(
            conv, sid=sid, patient_id=sid, split=hash_split(sid, val=0.1, test=0.2) if split in (None, "auto") else split,
            images=[{"modality": "xray", "path": p} for p in paths], findings=findings, impression=impression,
            target=target, context=indication if context and not is_empty(indication) else None, sections=others,
            meta={"source": "iu-xray", "mesh": rep["mesh"], "chexpert": chexpert}) else 0
    if masks:
        conv.notes.append(f"{masks} XXXX de-identification mask(s) kept as XXXX")
    labelled = sum(r["meta"]["chexpert"] is not None for r in conv.records)
    conv.notes.append(f"CheXpert labels from MeSH for {labelled} of {conv.converted} record(s) (the others: "
                      "'No Indexing')")
    note_split_counts(conv)
    return conv
