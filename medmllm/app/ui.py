"""The medmllm report app (Gradio 6 Blocks): upload a chest X-ray and/or CT (and a cine / video clip for a
model with a video slot: its frames behind a slider), add clinical context, stream a report, see the
findings the labeler reads in it, download TXT and JSON.

Start it with ``medmllm app`` (any export folder with ``--checkpoint``). In Python::

    app = ReportApp(PredictorBackend("exports/quickstart"), examples=example_cases())
    app.launch(host="127.0.0.1", port=7860)

Uploads are untrusted (see :mod:`medmllm.app.uploads`): a bad one shows a message in the page and the app
keeps serving. Logs hold event kinds, sizes and timings only; never file names, notes or metadata.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

import gradio as gr

from medmllm.app.backend import (DISCLAIMER, LANGUAGES, GenerationSettings, ReportBackend, ReportRequest, format_context,
                          parse_age, result_documents)
from medmllm.app.examples import ExampleCase
from medmllm.app.highlight import highlight_findings, label_text
from medmllm.app.uploads import DEFAULT_MAX_UPLOAD_MB, UploadError, load_clip, load_ct, load_xray, strip_dirs
from medmllm.app.viewer import PLANES, WINDOWS, plane_size, render_ct, render_frame, render_xray, safe_metadata
from medmllm.errors import InputError

log = logging.getLogger("medmllm.app")

CSS = "#status {min-height: 2.2em}"
SEX = [("not given", ""), ("female", "F"), ("male", "M")]
TASKS = [("Write the report", "report"), ("Ask a question", "question")]
LANGS = [("English", "en"), ("Chinese (中文)", "zh")]


def _paths(files: Any) -> list[str]:
    """Gradio file values (None, a path, a list of paths or file dicts) as a list of paths."""
    if not files:
        return []
    items = files if isinstance(files, (list, tuple)) else [files]
    out = []
    for f in items:
        out.append(f.get("path") if isinstance(f, dict) else getattr(f, "path", f))
    return [os.fspath(p) for p in out if p]


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", text)


def _error(message: str) -> str:
    return f"⚠️ **Cannot use this input.** {_md_escape(message)}"


def _flagged(img: Any) -> str:
    """A warning line when the image's pixels may carry identifiers (burned-in annotation), else ''."""
    from medmllm.io.phi import burned_in_warning

    warning = burned_in_warning(img)
    return f"⚠️ **Check the pixels.** {_md_escape(warning)}" if warning else ""


class ReportApp:
    """The report app around one :class:`ReportBackend`.

    Args:
        backend: the model (``PredictorBackend`` for an export folder).
        examples: one-click example cases (synthetic), shown under the inputs.
        max_upload_mb: per-file upload limit enforced by Gradio, and the limit on what uploads may
            expand to (zip, gzip) when read.
        concurrency: how many generations run at once (others wait in the queue).
        queue_size: how many requests may wait; more are refused with a "queue full" message.
        stream_interval: seconds between two streamed updates of the report (pieces that arrive
            faster are sent together; each update costs the server about 10 ms).
    """

    def __init__(self, backend: ReportBackend, *, examples: Sequence[ExampleCase] = (),
                 max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB, concurrency: int = 1, queue_size: int = 32,
                 stream_interval: float = 0.05):
        self.backend = backend
        self.examples = list(examples)
        self.max_bytes = int(max_upload_mb) * 2**20
        self.max_upload_mb = int(max_upload_mb)
        self.concurrency = int(concurrency)
        self.queue_size = int(queue_size)
        self.stream_interval = float(stream_interval)
        self.results_dir = Path(tempfile.mkdtemp(prefix="medmllm-app-"))
        self.blocks = self._build()

    # ---- viewer -------------------------------------------------------------------------
    def view_xray(self, xray_file: Any) -> tuple[Any, dict, str]:
        paths = _paths(xray_file)
        if not paths:
            return None, {}, ""
        try:
            img = load_xray(paths[0], self.max_bytes)
        except UploadError as e:
            log.info("xray upload rejected")
            return None, {}, _error(str(e))
        meta = safe_metadata(img.meta, kind=img.kind, source_format=img.source_format,
                             shape=img.array.shape, spacing=img.spacing)
        return render_xray(img.array), meta, _flagged(img)

    def view_ct(self, ct_files: Any, plane: str, window: str, index: float | None = None) -> tuple:
        paths = _paths(ct_files)
        if not paths:
            return None, gr.Slider(minimum=0, maximum=1, value=0, interactive=False), {}, ""
        try:
            img = load_ct(paths, self.max_bytes)
        except UploadError as e:
            log.info("ct upload rejected")
            return None, gr.Slider(minimum=0, maximum=1, value=0, interactive=False), {}, _error(str(e))
        n = plane_size(img.array.shape, plane)
        idx = n // 2 if index is None else int(min(max(index, 0), n - 1))
        meta = safe_metadata(img.meta, kind=img.kind, source_format=img.source_format,
                             shape=img.array.shape, spacing=img.spacing)
        view = render_ct(img.array, img.spacing, plane, idx, window)
        return (view, gr.Slider(minimum=0, maximum=max(n - 1, 1), value=idx, step=1, interactive=n > 1), meta,
                _flagged(img))

    def view_video(self, video_file: Any) -> tuple:
        """The middle frame of an uploaded clip, the frame slider, its facts, and the burned-in warning."""
        paths = _paths(video_file)
        off = gr.Slider(minimum=0, maximum=1, value=0, interactive=False)
        if not paths:
            return None, off, {}, ""
        try:
            img = load_clip(paths[0], self.max_bytes)
        except UploadError as e:
            log.info("clip upload rejected")
            return None, off, {}, _error(str(e))
        n = img.array.shape[0]
        meta = safe_metadata(img.meta, kind=img.kind, source_format=img.source_format,
                             shape=img.array.shape, spacing=img.spacing)
        return (render_frame(img.array, n // 2), gr.Slider(minimum=0, maximum=max(n - 1, 1), value=n // 2, step=1,
                                                            interactive=n > 1), meta, _flagged(img))

    def show_frame(self, video_file: Any, index: float) -> Any:
        paths = _paths(video_file)
        if not paths:
            return None
        try:
            img = load_clip(paths[0], self.max_bytes)
        except UploadError:
            return None
        return render_frame(img.array, int(index or 0))

    def reslice(self, ct_files: Any, plane: str, window: str, index: float) -> Any:
        paths = _paths(ct_files)
        if not paths:
            return None
        try:
            img = load_ct(paths, self.max_bytes)
        except UploadError:
            return None
        return render_ct(img.array, img.spacing, plane, int(index or 0), window)

    # ---- generation ---------------------------------------------------------------------
    def _request(self, xray_file, ct_files, age, sex, outpatient, inpatient, task, question, language,
                 max_new_tokens, temperature, top_p, seed, video_file=None) -> tuple[ReportRequest, dict, str]:
        language = language if language in LANGUAGES else "en"
        xray_paths, ct_paths, video_paths = _paths(xray_file), _paths(ct_files), _paths(video_file)
        question = (question or "").strip() if task == "question" else ""
        if task == "question" and not question:
            raise UploadError("question", "type a question, or choose 'Write the report'")
        if not xray_paths and not ct_paths and not video_paths:
            raise UploadError("images", "upload a chest X-ray or CT (or a clip, or click an example) first")
        xray = load_xray(xray_paths[0], self.max_bytes) if xray_paths else None
        ct = load_ct(ct_paths, self.max_bytes) if ct_paths else None
        video = load_clip(video_paths[0], self.max_bytes) if video_paths else None
        try:
            settings = GenerationSettings(int(max_new_tokens), float(temperature), float(top_p), int(seed or 0))
        except (TypeError, ValueError) as e:
            raise UploadError("generation settings", str(e)) from None
        try:
            age_months = parse_age(age)
        except ValueError as e:
            raise UploadError("age", str(e).partition(": ")[2] or str(e)) from None
        context = format_context(age_months, sex or None, outpatient, inpatient, language)
        images = {name: safe_metadata(im.meta, kind=im.kind, source_format=im.source_format,
                                      shape=im.array.shape, spacing=im.spacing)
                  for name, im in (("xray", xray), ("ct", ct), ("video", video)) if im is not None}
        readable = getattr(self.backend, "modalities", frozenset(("xray", "ct")))
        names = {"xray": "X-ray", "ct": "CT", "video": "clip"}
        unused = [m for m, given in (("xray", xray_paths), ("ct", ct_paths), ("video", video_paths))
                  if given and m not in readable]
        if unused and len(unused) == bool(xray_paths) + bool(ct_paths) + bool(video_paths):
            only = " and ".join(names[m] for m in sorted(readable)) or "no images"
            raise UploadError("model", f"this model reads {only} only; the {names[unused[0]]} cannot be used")
        note = " ".join(f"(The {names[m]} is shown but not used: this model reads no {names[m]}.)" for m in unused)
        if "xray" in unused:
            xray, xray_paths = None, []
        if "ct" in unused:
            ct, ct_paths = None, []
        if "video" in unused:
            video, video_paths = None, []
        ct_source = None if not ct_paths else ct_paths[0] if len(ct_paths) == 1 else {"path": ct_paths}
        return ReportRequest(xray=xray, ct=ct, xray_source=xray_paths[0] if xray_paths else None,
                             ct_source=ct_source, video=video, video_source=video_paths[0] if video_paths else None,
                             context=context, question=question or None,
                             language=language, settings=settings), images, note

    def _save(self, txt: str, doc: dict) -> tuple[str, str]:
        self._prune()
        folder = self.results_dir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True)
        (folder / "report.txt").write_text(txt, encoding="utf-8")
        (folder / "report.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
        return str(folder / "report.txt"), str(folder / "report.json")

    def _prune(self, max_age_s: float = 3600.0) -> None:
        now = time.time()
        for d in self.results_dir.iterdir():
            if now - d.stat().st_mtime > max_age_s:
                shutil.rmtree(d, ignore_errors=True)

    def generate(self, xray_file, ct_files, age, sex, outpatient, inpatient, task, question, language,
                 max_new_tokens, temperature, top_p, seed, video_file=None):
        """Stream ``(status, report, findings, txt, json)`` updates for one request."""
        off = gr.DownloadButton(value=None, interactive=False)
        try:
            request, images, note = self._request(xray_file, ct_files, age, sex, outpatient, inpatient, task,
                                            question, language, max_new_tokens, temperature, top_p, seed,
                                            video_file)
        except UploadError as e:
            log.info("request rejected: %s", type(e).__name__)
            yield _error(str(e)), "", [], off, off
            return
        log.info("generate: task=%s lang=%s xray=%s ct=%s clip=%s", request.task, request.language,
                 request.xray is not None, request.ct is not None, request.video is not None)
        yield f"Generating… {note}".strip(), "", [], off, off
        t0 = last = time.perf_counter()
        text, pieces, shown = "", 0, ""
        try:
            for piece in self.backend.stream(request):
                text += piece
                pieces += 1
                now = time.perf_counter()
                if now - last >= self.stream_interval or not shown.strip():  # coalesce fast pieces
                    shown, last = text, now
                    yield gr.skip(), text, gr.skip(), gr.skip(), gr.skip()
        except InputError as e:  # the model cannot take these inputs (e.g. no CT encoder, too few slices)
            log.info("generation refused: %s", type(e).__name__)
            yield _error(strip_dirs(str(e))), "", [], off, off
            return
        except Exception as e:  # noqa: BLE001 - the page shows it; the app keeps serving
            log.error("generation failed: %s", type(e).__name__)
            yield f"⚠️ **Generation failed** ({_md_escape(type(e).__name__)}). Try again.", text, [], off, off
            return
        seconds = time.perf_counter() - t0
        text = text.strip()  # as `medmllm generate` prints it
        try:
            labels = label_text(text, request.language)
        except ImportError:
            raise
        except Exception as e:  # noqa: BLE001 - the report stands without its labels
            log.error("labeler failed: %s", type(e).__name__)
            labels = {"findings": {}, "chexpert": {}, "possible": {}}
        txt, doc = result_documents(request, text, labels, self.backend.name, seconds, images)
        txt_path, json_path = self._save(txt, doc)
        log.info("generate: done, %d pieces in %.2f s", pieces, seconds)
        yield (f"Done in {seconds:.1f} s. {note + ' ' if note else ''}{DISCLAIMER[request.language]}", text,
               highlight_findings(labels, request.language),
               gr.DownloadButton(value=txt_path, interactive=True),
               gr.DownloadButton(value=json_path, interactive=True))

    # ---- layout -------------------------------------------------------------------------
    def _build(self) -> gr.Blocks:
        with gr.Blocks(title="medmllm report", delete_cache=(3600, 3600)) as blocks:
            gr.Markdown("# medmllm: chest imaging report\n" + DISCLAIMER["en"])
            with gr.Row():
                with gr.Column(scale=1):
                    xray = gr.File(label="Chest X-ray (DICOM, PNG, JPEG)", file_count="single", elem_id="xray")
                    ct = gr.File(label="Chest CT (NIfTI, zip of a DICOM series, or DICOM files)",
                                 file_count="multiple", elem_id="ct")
                    video = gr.File(label="Cine or video (multi-frame DICOM: US, XA, RF, ES; MP4, WebM, AVI)",
                                    file_count="single", elem_id="video")
                    with gr.Accordion("Clinical context", open=True):
                        with gr.Row():
                            age = gr.Textbox(label="Age", placeholder="4.5 (years), 3 y 2 m, 38 months",
                                             elem_id="age")
                            sex = gr.Radio(SEX, value="", label="Sex")
                        outpatient = gr.Textbox(label="Outpatient notes", lines=2)
                        inpatient = gr.Textbox(label="Inpatient notes", lines=2)
                    task = gr.Radio(TASKS, value="report", label="Task")
                    question = gr.Textbox(label="Question", visible=False, elem_id="question")
                    language = gr.Radio(LANGS, value="en", label="Language")
                    with gr.Accordion("Generation settings", open=False):
                        max_new = gr.Slider(8, 1024, value=256, step=8, label="Max new tokens")
                        temperature = gr.Slider(0.0, 1.5, value=0.0, step=0.05, label="Temperature (0 = greedy)")
                        top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p")
                        seed = gr.Number(value=0, precision=0, label="Seed")
                    with gr.Row():
                        run = gr.Button("Generate report", variant="primary", elem_id="generate")
                        clear = gr.ClearButton(value="Clear")
                with gr.Column(scale=1):
                    with gr.Tab("X-ray"):
                        xray_view = gr.Image(label="X-ray", interactive=False, elem_id="xray-view", type="numpy",
                                             format="png", height=420)
                        xray_meta = gr.JSON(label="Image facts (no patient identifiers)", max_height=260,
                                            show_indices=False, elem_id="xray-meta")
                    with gr.Tab("CT"):
                        ct_view = gr.Image(label="CT", interactive=False, elem_id="ct-view", type="numpy",
                                           format="png", height=420)
                        with gr.Row():
                            plane = gr.Radio(list(PLANES), value="axial", label="Plane")
                            window = gr.Radio(list(WINDOWS), value="lung", label="Window")
                        index = gr.Slider(0, 1, value=0, step=1, label="Slice", interactive=False)
                        ct_meta = gr.JSON(label="Image facts (no patient identifiers)", max_height=260,
                                          show_indices=False, elem_id="ct-meta")
                    with gr.Tab("Clip"):
                        video_view = gr.Image(label="Clip", interactive=False, elem_id="video-view", type="numpy",
                                              format="png", height=420)
                        frame = gr.Slider(0, 1, value=0, step=1, label="Frame", interactive=False, elem_id="frame")
                        video_meta = gr.JSON(label="Clip facts (no patient identifiers)", max_height=260,
                                             show_indices=False, elem_id="video-meta")
                with gr.Column(scale=1):
                    status = gr.Markdown(elem_id="status")
                    report = gr.Textbox(label="Report", lines=14, max_lines=40, interactive=False,
                                        elem_id="report")
                    findings = gr.HighlightedText(label="Findings read from the report", elem_id="findings",
                                                  color_map={"present": "red", "uncertain": "orange",
                                                             "possible": "yellow", "normal": "green"})
                    with gr.Row():
                        dl_txt = gr.DownloadButton("Download TXT", interactive=False, elem_id="download-txt")
                        dl_json = gr.DownloadButton("Download JSON", interactive=False, elem_id="download-json")
            if self.examples:
                gr.Examples(
                    examples=[e.row() for e in self.examples],
                    inputs=[xray, ct, age, sex, outpatient, inpatient, language],
                    example_labels=[e.label for e in self.examples], label="Example cases (synthetic)",
                )
            clear.add([xray, ct, age, outpatient, inpatient, question, report, findings, status,
                       xray_view, xray_meta, ct_view, ct_meta, video, video_view, video_meta])

            task.change(lambda t: gr.Textbox(visible=t == "question"), task, question, api_visibility="private")
            xray.change(self.view_xray, xray, [xray_view, xray_meta, status], api_name="view_xray",
                        concurrency_limit=4, show_progress="minimal")
            ct.change(self.view_ct, [ct, plane, window], [ct_view, index, ct_meta, status], api_name="view_ct",
                      concurrency_limit=4, show_progress="minimal")
            video.change(self.view_video, video, [video_view, frame, video_meta, status], api_name="view_video",
                         concurrency_limit=4, show_progress="minimal")
            frame.input(self.show_frame, [video, frame], video_view, api_visibility="private", concurrency_limit=4,
                        show_progress="hidden", trigger_mode="always_last")
            plane.change(self.view_ct, [ct, plane, window], [ct_view, index, ct_meta, status],
                         api_visibility="private", concurrency_limit=4)
            for trigger in (window.change, index.input):  # input: user moves only, not our own updates
                trigger(self.reslice, [ct, plane, window, index], ct_view, api_visibility="private",
                        concurrency_limit=4, show_progress="hidden", trigger_mode="always_last")
            run.click(self.generate,
                      [xray, ct, age, sex, outpatient, inpatient, task, question, language,
                       max_new, temperature, top_p, seed, video],
                      [status, report, findings, dl_txt, dl_json],
                      api_name="generate", concurrency_limit=self.concurrency, concurrency_id="model")
        blocks.queue(max_size=self.queue_size, default_concurrency_limit=self.concurrency)
        return blocks

    def launch(self, *, host: str = "127.0.0.1", port: int | None = 7860, auth: tuple[str, str] | None = None,
               prevent_thread_lock: bool = False, quiet: bool = True) -> Any:
        """Serve the app (binds ``host``; 127.0.0.1 unless told otherwise). Returns Gradio's launch result."""
        allowed = sorted({str(Path(p).parent) for e in self.examples for p in e.files()})
        return self.blocks.launch(
            server_name=host, server_port=port, auth=auth, prevent_thread_lock=prevent_thread_lock,
            max_file_size=f"{self.max_upload_mb}mb", allowed_paths=allowed, share=False, ssr_mode=False,
            show_error=False, quiet=quiet, theme=gr.themes.Soft(), css=CSS, footer_links=["api"],
            run_history=False,  # reports must not be kept in browser storage
        )

    def close(self) -> None:
        """Stop serving and delete this app's result files."""
        self.blocks.close()
        shutil.rmtree(self.results_dir, ignore_errors=True)
