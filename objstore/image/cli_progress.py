"""How far a transfer is, on standard error: a bar redrawn in place on a
terminal, a line every ``LINE_EVERY`` seconds otherwise (a log keeps a
few lines, not thousands of carriage returns)."""
from __future__ import annotations

import sys
import time
from typing import Final, TextIO

BAR_WIDTH: Final = 30
REDRAW_EVERY: Final = 0.2   # seconds between redraws of the bar
LINE_EVERY: Final = 10.0    # seconds between lines when not on a terminal
MIB: Final = 1 << 20


def amount(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class Progress:
    def __init__(self, verb: str, total: int | None, quiet: bool = False,
                 stream: TextIO | None = None) -> None:
        self.verb = verb
        self.total = total
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.on_terminal = self.stream.isatty()
        self.done_bytes = 0
        self.started = time.monotonic()
        self._shown_at = self.started

    def _rate(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return f"{self.done_bytes / elapsed / MIB:.1f} MiB/s"

    def _text(self) -> str:
        if self.total:
            share = min(self.done_bytes / self.total, 1.0)
            if self.on_terminal:
                filled = int(share * BAR_WIDTH)
                return (f"{self.verb} [{'#' * filled}{' ' * (BAR_WIDTH - filled)}] "
                        f"{share * 100:3.0f}%  {amount(self.done_bytes)} of "
                        f"{amount(self.total)}  {self._rate()}")
            return (f"{self.verb} {amount(self.done_bytes)} of {amount(self.total)} "
                    f"({share * 100:.0f}%, {self._rate()})")
        return f"{self.verb} {amount(self.done_bytes)} ({self._rate()})"

    def advance(self, count: int) -> None:
        self.done_bytes += count
        if self.quiet:
            return
        now = time.monotonic()
        if now - self._shown_at < (REDRAW_EVERY if self.on_terminal else LINE_EVERY):
            return
        self._shown_at = now
        self._show()

    def _show(self) -> None:
        if self.on_terminal:
            self.stream.write("\r" + self._text() + "\x1b[K")
        else:
            self.stream.write(self._text() + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """The last state, and the line ended."""
        if self.quiet:
            return
        self._show()
        if self.on_terminal:
            self.stream.write("\n")
            self.stream.flush()


__all__ = ["Progress", "amount"]
