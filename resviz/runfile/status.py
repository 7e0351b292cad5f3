"""How a run ended, in words: the status word shown in the window and on the command line, and
the error text a failed run records.

A run file records ``running``, ``finished``, ``failed`` or ``stopped`` (with an error text).
Readers tell more than that: a run still marked running whose writer is gone, or one stopped
by an interrupt (Ctrl+C, a signal), was *interrupted* — it did not end the way it was meant to.
"""

from __future__ import annotations

from ..errors import first_line

# The words, in the order a list of runs reads best.
RUNNING, FINISHED, STOPPED, INTERRUPTED, FAILED, UNREADABLE = (
    "running", "finished", "stopped", "interrupted", "failed", "unreadable")
# The error text a writer records when an interrupt ends its run as stopped.
INTERRUPTED_ERROR = "interrupted"
# Words for runs that did not end as planned: shown as warnings.
TROUBLE = (STOPPED, INTERRUPTED, FAILED, UNREADABLE)


def status_label(status: str, error: str | None = None, *, live: bool | None = None) -> str:
    """The word for a run's recorded ``status`` and ``error``.

    ``live`` says whether the writer of a run marked running still exists (``is_live``); None
    when the reader cannot tell, and the run is taken at its word.
    """
    if status == RUNNING:
        return INTERRUPTED if live is False else RUNNING
    if status == STOPPED and (error or "").strip().lower() == INTERRUPTED_ERROR:
        return INTERRUPTED
    return status


def run_status(recorded_status: str, live: bool) -> str:
    """The status to show for a run: its file's, except ``"interrupted"`` for a run the file calls
    running whose writer is gone."""
    return status_label(recorded_status, live=live)


def status_sentence(label: str, error: str | None = None) -> str:
    """One line that explains ``label`` (for tooltips): what happened, and the recorded reason."""
    reason = first_line(error or "")
    text = {
        RUNNING: "being written now",
        FINISHED: "finished: trained every step it was asked to",
        STOPPED: "stopped before its last step",
        INTERRUPTED: "interrupted: its writer was interrupted or died before it ended the run",
        FAILED: "failed",
        UNREADABLE: "the run file cannot be read",
    }.get(label, label)
    if reason and reason.lower() != INTERRUPTED_ERROR:
        text += f" ({reason})"
    return text


__all__ = ["FAILED", "FINISHED", "INTERRUPTED", "INTERRUPTED_ERROR", "RUNNING", "STOPPED", "TROUBLE", "UNREADABLE",
           "run_status", "status_label", "status_sentence"]
