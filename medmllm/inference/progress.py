"""Progress bars that leave the terminal clean: gone when the work ends, also when it fails.

A bar still on screen when an error is printed glues the two (``...record/s]error: ...``).
:func:`progress` is a context manager around a transient ``rich`` bar: whatever happens in the
block, the bar is removed and the cursor is back at the start of a line before anything else is
printed.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator


@contextlib.contextmanager
def progress(enabled: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; the bar shows only when ``enabled`` and there is something to do."""
    if not enabled or total <= 0:
        yield lambda n: None
        return
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(label, total=total)
    bar.start()
    try:
        yield lambda n: bar.advance(task, n)
    finally:
        bar.stop()
