"""Write docs/config-reference.md from the config dataclasses (a test checks that it is up to date)."""

from pathlib import Path

from medmllm.config import reference_markdown

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "docs" / "config-reference.md"
    out.write_text(reference_markdown(), encoding="utf-8")
    print(f"wrote {out}")
