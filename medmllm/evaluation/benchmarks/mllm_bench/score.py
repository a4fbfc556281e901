"""MLLM-Bench scored pairwise: a judge compares the model's answer with another model's.

The predictions file holds the model's answers, the references file the other model's (MLLM-Bench's
published baseline answers, or another medmllm run), both rows ``{"question_id", "question",
"prediction"}`` (optional ``image``, ``level``, ``capability``). Each pair is judged twice: once with
the model's answer shown first and once with it second.

Aggregation rule (documented in results as ``rule``): each judgment prefers the model, the other, or
neither (a tie, or a reply without a readable verdict, counted in ``unparsed_verdicts``). If both
orders agree, that is the outcome (win / lose / tie); if they disagree, the outcome is a tie and the
pair is counted in ``inconsistent`` (position bias cancels out). ``win_rate`` = (wins + ties / 2) / n
in %; ``strict_win_rate`` = wins / n in %; ``per_level`` gives the win rate per MLLM-Bench level.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import re
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from medmllm.data.schema import resolve_image_path
from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown, percent
from medmllm.evaluation.benchmarks.mllm_bench.judges import Judge, make_judge
from medmllm.evaluation.benchmarks.options import Option
from medmllm.evaluation.benchmarks.results import beside
from medmllm.registry import BENCHMARKS

log = logging.getLogger(__name__)

JUDGE_SYSTEM = ("You judge answers to questions about an image. Read the question and both answers, "
                "then decide which answer is more helpful, correct, relevant and detailed. Position must "
                "not affect your decision and length alone is not quality.")
JUDGE_TEMPLATE = ("[Question]\n{question}\n\n[Answer A]\n{first}\n\n[Answer B]\n{second}\n\n"
                  "Explain your comparison briefly, then give your verdict on the last line in exactly this "
                  "format: [[A]] if answer A is better, [[B]] if answer B is better, [[C]] for a tie.")
_VERDICT = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)


def parse_verdict(text: str) -> str | None:
    """``'first'``, ``'second'``, ``'tie'`` from the judge's last ``[[A]]``/``[[B]]``/``[[C]]``, else None."""
    found = _VERDICT.findall(text or "")
    if not found:
        return None
    v = found[-1].upper()
    return {"A": "first", "B": "second"}.get(v, "tie")


def judge_messages(question: str, first: str, second: str) -> list[dict[str, str]]:
    """The chat sent to the judge for one ordering of the two answers."""
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": JUDGE_TEMPLATE.format(question=question, first=first, second=second)}]


def combine(model_first: str | None, model_second: str | None) -> tuple[str, bool]:
    """Outcome for the model from the two orders' verdicts: ``(win|tie|lose, inconsistent)``."""
    pref1 = {"first": "win", "second": "lose"}.get(model_first or "", "tie")
    pref2 = {"second": "win", "first": "lose"}.get(model_second or "", "tie")
    return (pref1, False) if pref1 == pref2 else ("tie", True)


@BENCHMARKS.register("mllm-bench")
class MLLMBench(Benchmark):
    """MLLM-Bench pairwise scorer.

    Args:
        judge: a :class:`~medmllm.evaluation.benchmarks.mllm_bench.judges.Judge` or a spec for
            :func:`~medmllm.evaluation.benchmarks.mllm_bench.judges.make_judge`; needed only to judge
            new pairs.
        judge_model: model name sent to an OpenAI-compatible judge.
        image_root: folder the rows' ``image`` paths are relative to; without it the judge sees no
            images (paths leaving the folder are rejected, only image files are sent).

    The judgments are cached in ``cache`` (a JSONL file beside the results, set by :meth:`bind`; a
    pair is judged once per judge and answers).
    """

    name = "mllm-bench"
    rule = ("MLLM-Bench pairwise: each pair judged twice with the answer order swapped; agreeing verdicts "
            "decide win/lose/tie, disagreeing ones count as a tie (inconsistent); win_rate = (win + tie/2)/n in %")
    row_fields = ("question_id", "prediction")
    key_fields = ("question_id",)
    max_new_tokens = 512
    needs_references = True
    options = (Option("judge", "http(s)://URL (OpenAI-compatible), hf:DIR or checkpoint:DIR"),
               Option("judge_model", "model name sent to an OpenAI-compatible judge"),
               Option("image_root", "folder the rows' image paths are relative to (evaluate: the manifest's)",
                      flag="--images"))

    judge: str | Judge | None
    judge_model: str | None
    image_root: str | Path | None
    cache: Path | None = None
    _judge: Judge | None = None

    def bind(self, results: Path, image_root: Path | None = None) -> None:
        """Cache the judgments in ``<results>.judgments.jsonl``; show the judge images under ``image_root``."""
        if self.image_root is None:
            self.image_root = image_root
        if self.cache is None:
            self.cache = beside(results, ".judgments.jsonl")

    def preflight(self, records: Sequence[dict[str, Any]], references: bool) -> str | None:
        if references and self.judge is None:
            return "judging against --references needs --judge"
        return None

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        meta = record.get("meta") or {}
        return {"question_id": meta.get("question_id"), "question": meta.get("question"),
                "level": meta.get("level"), "capability": meta.get("capability"),
                "image": ((record.get("images") or [{}])[0]).get("path")}

    def get_judge(self) -> Judge:
        """The judge, built on first use."""
        if self._judge is None:
            if self.judge is None:
                raise InputError(None, "mllm-bench needs a judge (--judge URL | hf:DIR | checkpoint:DIR)")
            self._judge = make_judge(self.judge, self.judge_model)
        return self._judge

    def _images(self, row: dict[str, Any]) -> list[str]:
        """The row's image for the judge: only under ``image_root`` and only image files."""
        img = row.get("image")
        if not img or self.image_root is None:
            return []
        p = resolve_image_path(Path(self.image_root), str(img), f"question {row.get('question_id')}")
        mime = mimetypes.guess_type(p.name)[0] or ""
        return [str(p)] if p.is_file() and mime.startswith("image/") else []

    def _ask(self, row: dict[str, Any], first: str, second: str) -> tuple[str | None, str]:
        raw = self.get_judge().complete(judge_messages(str(row.get("question") or ""), first, second), self._images(row))
        return parse_verdict(raw), raw

    def prepare(self, raw, where, references=None, references_where=None):
        rows = [r for _, r in raw]
        if rows and all("outcome" in r for r in rows):  # already judged (a per-sample file)
            return [dict(r) for r in rows], 0
        if references is None:
            raise InputError(where, "mllm-bench needs --references: the answers to compare against")
        mine = self._index(raw, where)
        other = self._index(references, references_where)
        paired = [q for q in mine if q in other and mine[q]["prediction"] is not None
                  and other[q]["prediction"] is not None]
        skipped = len(set(mine) | set(other)) - len(paired)
        cache = self._load_cache()
        samples = []
        for q in paired:
            row = {**other[q], **mine[q]}
            a, b = str(mine[q]["prediction"]), str(other[q]["prediction"])
            key = hashlib.sha256(json.dumps([str(self.judge), self.judge_model, row.get("question"), a, b])
                                 .encode()).hexdigest()[:24]
            if key in cache:
                v1, v2, raw1, raw2 = cache[key]
            else:
                (v1, raw1), (v2, raw2) = self._ask(row, a, b), self._ask(row, b, a)
                self._append_cache(key, [v1, v2, raw1, raw2])
            outcome, inconsistent = combine(v1, v2)
            samples.append({"question_id": q, "question": row.get("question"), "level": row.get("level"),
                            "capability": row.get("capability"), "prediction": a, "other_prediction": b,
                            "verdict_model_first": v1, "verdict_model_second": v2, "judge_model_first": raw1,
                            "judge_model_second": raw2, "outcome": outcome, "inconsistent": inconsistent})
        if not samples:
            raise InputError(where, "no question is answered in both files")
        return samples, skipped

    @staticmethod
    def _index(rows: list[tuple[int, dict[str, Any]]], where: str | None) -> dict[Any, dict[str, Any]]:
        out: dict[Any, dict[str, Any]] = {}
        for n, r in rows:
            if "question_id" not in r or "prediction" not in r:
                raise InputError(where, f"line {n}: mllm-bench rows need question_id and prediction")
            if r["question_id"] in out:
                raise InputError(where, f"line {n}: question_id {r['question_id']!r} appears twice")
            out[r["question_id"]] = r
        return out

    def _load_cache(self) -> dict[str, list[Any]]:
        if self.cache is None or not self.cache.is_file():
            return {}
        out = {}
        for line in self.cache.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
                out[obj["key"]] = obj["value"]
            except (ValueError, KeyError, TypeError):
                continue  # a truncated last line from an interrupted run
        return out

    def _append_cache(self, key: str, value: list[Any]) -> None:
        if self.cache is None:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        with open(self.cache, "a", encoding="utf-8") as f:
            f.write(json.dumps({"key": key, "value": value}, ensure_ascii=False) + "\n")

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        c = Counter(s["outcome"] for s in samples)
        n = len(samples)
        unparsed = sum((s.get("verdict_model_first") is None) + (s.get("verdict_model_second") is None) for s in samples)
        levels: dict[str, list[dict[str, Any]]] = {}
        for s in samples:
            levels.setdefault(str(s.get("level")), []).append(s)
        return {"win": c["win"], "tie": c["tie"], "lose": c["lose"],
                "win_rate": percent(c["win"] + 0.5 * c["tie"], n), "strict_win_rate": percent(c["win"], n),
                "lose_rate": percent(c["lose"], n), "inconsistent": sum(1 for s in samples if s.get("inconsistent")),
                "unparsed_verdicts": unparsed,
                "per_level": {lv: percent(sum(x["outcome"] == "win" for x in g) + 0.5 * sum(x["outcome"] == "tie" for x in g),
                                          len(g)) for lv, g in levels.items() if lv != "None"},
                "scale": "percent"}

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"Win": results["win"], "Tie": results["tie"], "Lose": results["lose"],
                "Win rate (%)": results["win_rate"], "Inconsistent": results["inconsistent"]}

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        rows = [(lv, [v]) for lv, v in results.get("per_level", {}).items()]
        return [Breakdown("Win rate per level (win + tie/2, %)", "per_level", ["win rate (%)"], rows, plot=0,
                          item="level", xlim=(0, 100))] if rows else []
