"""The runs panel's rows, without Qt: twins paired, names that tell rows apart, status words."""

from __future__ import annotations

import time
from pathlib import Path

from resviz.models import ModelSpec
from resviz.runfile.records import RunSummary
from resviz.views.runs_listing import runs_rows

MORNING = time.mktime((2026, 11, 27, 9, 5, 0, 0, 0, -1))


def summary(name: str, model: str = "resnet20", *, options=None, twin: str | None = None, status="finished",
            acc=0.5, created=MORNING, live=False, steps=100, error=None) -> RunSummary:
    spec = ModelSpec(model, options or {})
    return RunSummary(path=Path("/runs") / f"{name}.resviz", name=name, model=spec.label(), steps=steps,
                      status=status, best_acc=acc, updated=created + 60, live=live, model_spec=spec,
                      twin=f"/elsewhere/{twin}.resviz" if twin else None, created=created, run_error=error)


def twins(stem: str, *, created=MORNING, plain_acc=0.3, residual_acc=0.8, **kw) -> list[RunSummary]:
    return [summary(f"{stem}-residual", "resnet20", twin=f"{stem}-plain", acc=residual_acc, created=created, **kw),
            summary(f"{stem}-plain", "plain20", twin=f"{stem}-residual", acc=plain_acc, created=created, **kw)]


def test_twins_share_one_row_plain_then_residual_with_both_accuracies():
    rows = runs_rows(twins("a") + [summary("solo", "vgg11", acc=None)])
    pair = next(row for row in rows if row.paired)
    assert [entry.role for entry in pair.entries] == ["plain", "residual"]
    assert [entry.path.name for entry in pair.entries] == ["a-plain.resviz", "a-residual.resviz"]
    assert pair.accuracy == "plain 30.0% | residual 80.0%"
    assert pair.title == "resnet20 twins" and pair.path.name == "a-residual.resviz"
    solo = next(row for row in rows if not row.paired)
    assert solo.accuracy == "–" and solo.title == "vgg11"
    assert len(rows) == 2


def test_a_twin_whose_file_is_gone_stands_alone():
    rows = runs_rows(twins("a")[:1])
    assert len(rows) == 1 and not rows[0].paired and rows[0].title == "resnet20"


def test_names_differ_where_runs_differ_model_options_then_time():
    runs = (twins("a", created=MORNING) + twins("b", created=MORNING + 600)
            + twins("c", created=MORNING + 600 + 7, options={"norm": "none"}))
    rows = runs_rows(runs)
    assert [row.title for row in rows] == ["resnet20 twins (norm=none)", "resnet20 twins", "resnet20 twins"]
    assert [row.when for row in rows] == ["09:15", "09:15", "09:05"]  # newest first; minutes tell them apart
    same_minute = runs_rows(twins("a", created=MORNING) + twins("b", created=MORNING + 20))
    assert [row.when for row in same_minute] == ["27 Nov 09:05:20", "27 Nov 09:05:00"]
    same_second = runs_rows(twins("a") + twins("b"))
    assert len({(row.title, row.when) for row in same_second}) == 2
    labels = {f"{row.title} {row.when}" for row in rows}
    assert len(labels) == len(rows)


def test_status_words_live_paused_stopped_failed_finished():
    live = twins("live", status="running", live=True)
    rows = runs_rows(live + [summary("halt", status="stopped", created=MORNING - 60),
                             summary("broke", status="failed", error="out of memory", created=MORNING - 120),
                             summary("ctrl-c", status="stopped", error="interrupted", created=MORNING - 180),
                             summary("done", created=MORNING - 240)])
    assert [row.status for row in rows] == ["live", "stopped", "failed", "interrupted", "finished"]
    assert rows[0].live and not rows[1].live
    assert "out of memory" in rows[2].tooltip()
    paused = runs_rows(live, paused=[f"/somewhere/{s.path.name}" for s in live])
    assert paused[0].status == "paused" and "paused" in paused[0].tooltip()
    # A pair shows the status that needs attention: one twin failed, the other finished.
    mixed = twins("m")
    mixed[1] = summary("m-plain", "plain20", twin="m-residual", status="failed", error="diverged")
    assert runs_rows(mixed)[0].status == "failed"
