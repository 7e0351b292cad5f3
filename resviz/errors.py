"""User-facing errors.

A ``ResvizError`` carries a one-line message that names the thing at fault and what is wrong
with it. The command line prints it without a traceback (unless ``--debug``) and exits with 2;
the window shows it in a dialog.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ResvizError(Exception):
    """An error caused by the user's input, explained in one line."""


class TrustError(ResvizError):
    """Raised when running user code was asked for without an explicit trust decision."""


def nearest_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates closest to ``name``, for "did you mean ...?" hints."""
    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    if not close:
        lowered = name.lower()
        close = [c for c in candidates if lowered in c.lower()][:n]
    return close


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A " (did you mean a, b?)" suffix, or "" when nothing is close."""
    close = nearest_names(name, candidates)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped ("" when there is none)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``TypeName: first line of the message`` (at most ``limit`` characters of it), for messages
    that quote an exception raised by code we do not own."""
    text = first_line(str(exc))
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_exception(exc: BaseException) -> str:
    """``TypeName: message`` with the whole message: the error text stored with a failed run and
    shown where there is room for it."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
