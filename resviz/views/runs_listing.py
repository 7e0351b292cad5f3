"""The runs panel's rows, without Qt: twin runs paired in one row, names that tell rows apart,
and one status word per row (live, paused, stopped, interrupted, failed, finished).

A lecturer picks a run from a list of a dozen made the same morning; ``resnet20-twins-20261127-1…``
thirteen times over does not say which is which. Each row here names the model and its options,
then only as much of the time as it takes to tell rows apart.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..models import find_twin_pair
from ..runfile import FAILED, FINISHED, INTERRUPTED, RUNNING, STOPPED, UNREADABLE, status_label, status_sentence
from ..runfile.records import RunSummary
from .run_data import run_label

LIVE, PAUSED = "live", "paused"
# Which status a pair shows when its two runs differ: what most needs the lecturer's attention.
STATUS_ORDER = (PAUSED, LIVE, FAILED, UNREADABLE, INTERRUPTED, STOPPED, FINISHED)


@dataclass(frozen=True)
class RunEntry:
    """One run file of a row: its role (plain, residual or model), status word and best accuracy."""

    summary: RunSummary
    role: str
    status: str

    @property
    def path(self) -> Path:
        return self.summary.path

    @property
    def accuracy(self) -> str:
        acc = self.summary.best_acc
        return f"{100 * acc:.1f}%" if acc is not None else "–"

    def sentence(self) -> str:
        error = self.summary.error or self.summary.run_error
        word = RUNNING if self.status == LIVE else self.status
        text = "paused: waiting for Resume" if self.status == PAUSED else status_sentence(word, error)
        return f"{self.role} {self.summary.model}: {text}, {self.summary.steps:,} steps ({self.path.name})"


@dataclass(frozen=True)
class RunsRow:
    """A row of the runs panel: one run, or a plain | residual pair."""

    entries: tuple[RunEntry, ...]  # (plain, residual) for a pair
    title: str
    when: str

    @property
    def paired(self) -> bool:
        return len(self.entries) == 2

    @property
    def status(self) -> str:
        words = [entry.status for entry in self.entries]
        return min(words, key=lambda word: STATUS_ORDER.index(word) if word in STATUS_ORDER else len(STATUS_ORDER))

    @property
    def accuracy(self) -> str:
        """"plain 41.2% | residual 78.9%", or the one run's best accuracy."""
        if not self.paired:
            return self.entries[0].accuracy
        return " | ".join(f"{entry.role} {entry.accuracy}" for entry in self.entries)

    @property
    def steps(self) -> int:
        return max(entry.summary.steps for entry in self.entries)

    @property
    def path(self) -> Path:
        """The file to open: the residual one of a pair (its twin opens beside it)."""
        return self.entries[-1].path

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(entry.path for entry in self.entries)

    @property
    def live(self) -> bool:
        return any(entry.status in (LIVE, PAUSED) for entry in self.entries)

    def tooltip(self) -> str:
        return "\n".join([f"{self.title} · {self.when} · {self.steps:,} steps"]
                         + [entry.sentence() for entry in self.entries])


def runs_rows(summaries: Sequence[RunSummary], *, paused: Collection[str | Path] = ()) -> list[RunsRow]:
    """The rows for ``summaries`` (newest first); runs in ``paused`` (paths) show as paused."""
    paused_names = {_key(p) for p in paused}
    by_key = {_key(s.path): s for s in summaries}
    used: set[str] = set()
    groups: list[tuple[RunSummary, ...]] = []
    for summary in sorted(summaries, key=lambda s: (s.created or s.updated, s.updated), reverse=True):
        key = _key(summary.path)
        if key in used:
            continue
        twin = by_key.get(_key(summary.twin)) if summary.twin else None
        if twin is not None and _key(twin.path) not in used and twin is not summary:
            group = _plain_first(summary, twin)
        else:
            group = (summary,)
        used.update(_key(s.path) for s in group)
        groups.append(group)
    whens = _distinct_times([group for group in groups])
    rows = []
    for group, when in zip(groups, whens):
        roles = ("plain", "residual") if len(group) == 2 else ("model",)
        entries = tuple(RunEntry(s, role, _status(s, _key(s.path) in paused_names)) for s, role in zip(group, roles))
        rows.append(RunsRow(entries, _title(group), when))
    return rows


def _key(path: str | Path | None) -> str:
    """Run files are matched by name: a twin's path was recorded where training ran."""
    return Path(path).name if path else ""


def _status(summary: RunSummary, paused: bool) -> str:
    word = status_label(summary.status, summary.error or summary.run_error, live=summary.live)
    if word == RUNNING:
        return PAUSED if paused else LIVE
    return word


def _plain_first(a: RunSummary, b: RunSummary) -> tuple[RunSummary, RunSummary]:
    spec = a.model_spec or b.model_spec
    pair = find_twin_pair(spec) if spec is not None else None
    if pair is not None and a.model_spec is not None and a.model_spec.name == pair.plain:
        return a, b
    if pair is not None and b.model_spec is not None and b.model_spec.name == pair.plain:
        return b, a
    return (a, b) if a.path.stem.endswith("-plain") or not b.path.stem.endswith("-plain") else (b, a)


def _title(group: tuple[RunSummary, ...]) -> str:
    """``resnet20 twins (norm=none)``, or the one run's model and options."""
    labels = [run_label(s.model_spec, s.model if s.model != "-" else s.name) for s in group]
    if len(group) == 1:
        return labels[0]
    residual = group[1].model_spec
    if residual is not None:
        return run_label(residual, residual.name).replace(residual.name, f"{residual.name} twins", 1)
    return " | ".join(labels)


def _distinct_times(groups: list[tuple[RunSummary, ...]]) -> list[str]:
    """The start time of each group, as short as still tells rows of the same title apart."""
    stamps = [min(s.created or s.updated for s in group) for group in groups]
    titles = [_title(group) for group in groups]
    days = {time.strftime("%Y-%m-%d", time.localtime(t)) for t in stamps if t}
    for fmt in ("%H:%M" if len(days) <= 1 else "%d %b %H:%M", "%d %b %H:%M:%S"):
        texts = [time.strftime(fmt, time.localtime(t)) if t else "" for t in stamps]
        if len(set(zip(titles, texts))) == len(texts):
            return texts
    # Started within the same second: the file name tells them apart.
    return [f"{text} · {group[-1].path.stem}" for text, group in zip(texts, groups)]
