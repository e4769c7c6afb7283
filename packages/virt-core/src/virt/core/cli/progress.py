"""A progress bar for long storage operations (vol-wipe, vol-clone, vol-upload, vol-download).

Drawn on stderr, and only when stderr is a terminal: virsh prints nothing extra for these
commands, so output that goes to a file or a pipe stays exactly virsh's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

#: Seconds between two looks at a running operation's progress.
POLL = 0.1
_WIDTH = 30


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


class ProgressBar:
    """``bar.update(done, total)`` redraws one line; ``bar.close()`` ends it. Inert off a terminal."""

    def __init__(self, err: TextIO, label: str, total: int = 0) -> None:
        self.err, self.label, self.total = err, label, total
        isatty = getattr(err, "isatty", None)
        self.enabled = bool(isatty is not None and isatty())
        self.done = 0
        self._drawn = False
        self._last = 0.0

    def update(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        if not self.enabled:
            return
        self.done = done
        if total:
            self.total = total
        now = time.monotonic()
        if not force and now - self._last < POLL:
            return  # redrawing more often than the eye sees only slows a transfer down
        self._last = now
        if self.total:
            frac = min(done / self.total, 1.0)
            filled = int(frac * _WIDTH)
            line = f"{self.label}: [{'#' * filled}{' ' * (_WIDTH - filled)}] {frac * 100:3.0f}% " \
                   f"{_size(done)}/{_size(self.total)}"
        else:
            line = f"{self.label}: {_size(done)}"
        self.err.write("\r" + line + "\x1b[K")
        self.err.flush()
        self._drawn = True

    def close(self, completed: bool = True) -> None:
        if not self.enabled:
            return
        if completed and self._drawn:
            self.update(self.total or self.done, force=True)
        if self._drawn:
            self.err.write("\n")
            self.err.flush()
            self._drawn = False


def run_with_progress(err: TextIO, label: str, work: Callable[[], T],
                      poll: Callable[[], tuple[int, int] | None]) -> T:
    """Run ``work()``, drawing ``poll()``'s (processed, total) meanwhile when ``err`` is a terminal.

    ``work`` runs on this thread as it would without a bar; a helper thread does the polling. A
    ``poll`` that fails (a driver that cannot report progress) just leaves the bar out.
    """
    bar = ProgressBar(err, label)
    if not bar.enabled:
        return work()
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(POLL):
            try:
                state = poll()
            except Exception:  # no progress to show is not a failure of the operation
                return
            if state is not None:
                bar.update(*state)

    watcher = threading.Thread(target=watch, name="virt-progress", daemon=True)
    watcher.start()
    ok = False
    try:
        result = work()
        ok = True
        return result
    finally:
        stop.set()
        watcher.join()
        bar.close(completed=ok)


def job_poll(vol: Any) -> Callable[[], tuple[int, int] | None]:
    """``poll`` for :func:`run_with_progress` from a volume's ``job_info()``."""

    def poll() -> tuple[int, int] | None:
        info = vol.job_info()
        return None if info is None else (info.processed, info.total)

    return poll
