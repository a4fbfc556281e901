"""medmllm deid: a de-identified copy of a DICOM file, folder or zip."""

NAME = "deid"
HELP = "write a de-identified copy of a DICOM file, folder or zip (PS3.15 basic profile)"
DESCRIPTION = """Write a de-identified copy of IN to OUT following the DICOM PS3.15 basic profile.

Names, IDs, birth date, addresses, accession number, institution and physician names are removed
or emptied; private tags and overlays are dropped; UIDs are remapped consistently (so a series
stays a series); dates are shifted back by a per-patient number of days (or removed with
--dates remove). Age, sex, size and weight are kept unless --drop-patient-characteristics.
Every attribute of DICOM PS3.15 Table E.1-1 gets its basic-profile action; free text that is
kept is cleaned of the file's identifiers; the 128-byte preamble is zeroed.
A file gives OUT as a file; a folder or zip gives OUT/IM00001.dcm ... (or a zip when OUT ends
in .zip). Output names never reuse input names. Pixels are not changed unless --mask names
regions to black out on every frame (the text banner of an ultrasound machine): files flagged with
burned-in annotation (or secondary captures, ultrasound, angiography and endoscopy images without
the flag) are listed with their output path, and so are the masked ones.
A bad input file (cut, header only, garbled) or a full disk stops the run with nothing written.
Details: docs/deidentification.md.

The mapping is keyed by a secret salt: random per run unless --salt (or MEDMLLM_DEID_SALT) is
given; give the same salt to de-identify more files of the same patients consistently.

--detect-burned-in also looks at the pixels: every frame of every written file is searched for
lines of printed text (a classical stroke / character / line detector) and the files and frames
where it finds some are listed. It is a detector, not a guarantee: small, faint or handwritten
text can be missed.

examples:
  medmllm deid study/ study-anon/
  medmllm deid echo/ echo-anon/ --detect-burned-in
  medmllm deid study.zip study-anon.zip --dates remove
  medmllm deid echo.dcm echo-anon.dcm --mask 0,0,640,40
"""
ORDER = 11


def add_arguments(parser):
    parser.add_argument("input", metavar="IN", help="DICOM file, folder or zip")
    parser.add_argument("output", metavar="OUT", help="output file, folder, or .zip (must not exist)")
    parser.add_argument("--salt", default=None, help="secret that keys pseudonyms, UIDs and date shifts "
                                                     "(default: $MEDMLLM_DEID_SALT, else random)")
    parser.add_argument("--dates", choices=["shift", "remove"], default="shift", help="shift dates (default) or remove them")
    parser.add_argument("--drop-patient-characteristics", action="store_true",
                        help="also remove age, sex, size and weight")
    parser.add_argument("--keep-descriptions", action="store_true",
                        help="keep study/series descriptions and protocol name, cleaned of the file's identifiers")
    parser.add_argument("--detect-burned-in", action="store_true",
                        help="also look for text in the pixels of every frame written (names, dates, IDs burned "
                             "into the image) and list the files and frames: a detector, not a guarantee")
    parser.add_argument("--mask", action="append", default=[], metavar="X,Y,W,H",
                        help="black out this pixel region on every frame (repeatable); the pixel data is then "
                             "stored uncompressed")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def run(args):
    import os
    import sys

    from medmllm.io.deid import Deidentifier
    from medmllm.io.deid_files import deidentify_path
    from medmllm.io.deid_mask import parse_region

    deid = Deidentifier(salt=args.salt or os.environ.get("MEDMLLM_DEID_SALT") or None, dates=args.dates,
                        keep_patient_characteristics=not args.drop_patient_characteristics,
                        keep_descriptions=args.keep_descriptions, mask=[parse_region(m) for m in args.mask])
    report = deidentify_path(args.input, args.output, deid=deid, overwrite=args.overwrite,
                             detect_text=args.detect_burned_in)
    print(f"de-identified {report.files} DICOM file(s) -> {args.output}"
          + (f" ({len(report.skipped)} file(s) skipped: not DICOM images)" if report.skipped else ""))
    for path, warning in report.burned_in:
        print(f"warning: {path}: {warning}", file=sys.stderr)
    if report.burned_in:
        flagged = len({path for path, _ in report.burned_in})
        print(f"{flagged} file(s) flagged for burned-in annotation (listed above): check their pixels before sharing")
    if args.detect_burned_in:
        from medmllm.io.burned_in_text import describe

        for path, found in report.text_found:
            print(f"text: {path}: {describe(found)}")
        print(f"burned-in text detector: {len(report.text_found)} of {report.files} file(s) show text in their "
              "pixels (a detector, not a guarantee: docs/text-rich.md)")
    return 0
