"""``resviz runs``: the table, JSON, live and interrupted runs, damaged files, and the CSV export."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from resviz.cli import main
from resviz.models import ModelSpec
from resviz.runfile import EvalRecord, RunWriter, StepBatch

LAYERS = ["conv1", "layer1.0.conv1", "fc"]
BLOCKS = ["layer1.0"]


def record_run(path, *, steps=5, status="finished", accs=(0.4, 0.625), spec=None, classes=("cat", "dog")):
    spec = spec or ModelSpec("resnet20")
    writer = RunWriter(path, model_spec=spec, config={"epochs": 2}, layer_ids=LAYERS, block_ids=BLOCKS,
                       classes=classes)
    n = steps
    s = np.arange(n)
    writer.add_steps(StepBatch(step=s * 10, epoch=s // 3, time=s * 0.5, loss=1.0 / (s + 1), acc=np.full(n, np.nan),
                               lr=np.full(n, 0.1), grad_norm=np.stack([s + 0.1, s * 2.0, s * 3.0], 1),
                               weight_norm=np.ones((n, 3)), update_ratio=np.full((n, 3), np.nan),
                               act_grad_norm=s[:, None] * 0.5, dead_relu=np.full((n, 1), 0.25),
                               nonfinite=s == 2))
    for epoch, acc in enumerate(accs):
        writer.add_eval(EvalRecord(step=10 * epoch, epoch=epoch, split="test", loss=1.0 - acc, acc=acc,
                                   confusion=[[3, 1], [epoch, 4]], precision=[0.75, 0.8], recall=[0.75, 1.0]))
    if status is None:
        return writer
    writer.finish(status, "RuntimeError: boom" if status == "failed" else None)
    return path


def table(capsys):
    out = capsys.readouterr().out.splitlines()
    return out, {line.split()[0] if not line.startswith("*") else line.split()[1]: line for line in out[1:]}


def test_list_shows_every_run_with_status_and_best_accuracy(tmp_path, capsys):
    record_run(tmp_path / "resnet20.resviz")
    record_run(tmp_path / "plain20.resviz", steps=3, status="failed", accs=(), spec=ModelSpec("plain20",
                                                                                             {"norm": "none"}))
    live = record_run(tmp_path / "watching.resviz", status=None, accs=(0.5,))
    (tmp_path / "broken.resviz").write_bytes(os.urandom(4096))
    (tmp_path / "notes.md").write_text("not listed")

    assert main(["runs", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == ["name", "model", "steps", "status", "best", "acc", "updated"]
    rows = {line.lstrip("* ").split()[0]: line for line in lines[1:-1]}
    assert rows["resnet20"].split()[:5] == ["resnet20", "resnet20", "5", "finished", "62.5%"]
    assert rows["plain20"].split()[:6] == ["plain20", "plain20", "(norm=none)", "3", "failed", "-"]
    assert rows["watching"].startswith("*") and rows["watching"].split()[1:6] == [
        "watching", "resnet20", "5", "running", "50.0%"]
    assert rows["broken"].split()[:4] == ["broken", "-", "-", "unreadable"]
    assert lines[-1] == "* live: being written now"
    assert "notes" not in captured.out
    assert f"resviz: warning: {tmp_path / 'broken.resviz'} is not a resviz run file" in captured.err
    live.finish()

    assert main(["runs", str(tmp_path), "--json"]) == 0
    data = {item["name"]: item for item in json.loads(capsys.readouterr().out)}
    assert data["resnet20"]["best_acc"] == 0.625 and data["resnet20"]["last_step"] == 40
    assert data["watching"]["status"] == "finished" and data["watching"]["live"] is False
    assert data["broken"]["status"] == "unreadable" and "not a resviz run file" in data["broken"]["error"]


def test_a_killed_writer_shows_as_interrupted(tmp_path, capsys):
    path = tmp_path / "killed.resviz"
    code = ("import sys, time, numpy as np\n"
            "from resviz.runfile import RunWriter\n"
            "w = RunWriter(sys.argv[1], model_spec=None, config={}, layer_ids=['a'], block_ids=[], commit_every=1)\n"
            "w.add_step(0, epoch=0, loss=1.0, grad_norm=[1.0], weight_norm=[1.0], update_ratio=[0.0],\n"
            "           act_grad_norm=[], dead_relu=[])\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        assert main(["runs", str(tmp_path)]) == 0
        assert capsys.readouterr().out.splitlines()[1].split()[:5] == ["*", "killed", "-", "1", "running"]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
    assert main(["runs", str(path)]) == 0  # a single file works too
    assert capsys.readouterr().out.splitlines()[1].split()[:4] == ["killed", "-", "1", "interrupted"]
    assert main(["runs", str(path), "--json"]) == 0  # the JSON says the same: never "running" beside live false
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["status"], listed["live"]) == ("interrupted", False)


def test_list_errors_and_empty_folders(tmp_path, capsys):
    assert main(["runs", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"no run files (*.resviz) in {tmp_path}"
    assert main(["runs", str(tmp_path / "missing")]) == 2
    assert f"run folder {tmp_path / 'missing'} does not exist" in capsys.readouterr().err
    truncated = tmp_path / "cut.resviz"
    record_run(truncated, steps=400)
    truncated.write_bytes(truncated.read_bytes()[:3000])
    assert main(["runs", str(truncated)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"resviz: error: run file {truncated} is truncated") and "Traceback" not in err
    assert main(["runs", str(tmp_path), "--out", "x.csv"]) == 2
    assert "belong to 'resviz runs export RUN'" in capsys.readouterr().err


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_export_writes_steps_and_evaluations(tmp_path, capsys):
    run = record_run(tmp_path / "resnet20.resviz", steps=5)
    assert main(["runs", "export", str(run), "--csv"]) == 0
    assert "wrote 5 steps of resnet20 to" in capsys.readouterr().err
    steps = read_csv(tmp_path / "resnet20.steps.csv")
    assert list(steps[0])[:7] == ["step", "epoch", "time", "loss", "acc", "lr", "nonfinite"]
    assert [f"grad_norm/{layer}" for layer in LAYERS] == [c for c in steps[0] if c.startswith("grad_norm/")]
    assert "act_grad_norm/layer1.0" in steps[0] and "update_ratio/fc" in steps[0]
    assert [row["step"] for row in steps] == ["0", "10", "20", "30", "40"]
    assert steps[3]["grad_norm/conv1"] == "3.1"  # the float32, shortest form, without float64 noise
    assert np.float32(steps[3]["grad_norm/conv1"]) == np.float32(3.1)
    assert float(steps[4]["grad_norm/layer1.0.conv1"]) == 8.0 and float(steps[4]["grad_norm/fc"]) == 12.0
    assert math.isnan(float(steps[0]["acc"])) and math.isnan(float(steps[0]["update_ratio/fc"]))
    assert [row["nonfinite"] for row in steps] == ["0", "0", "1", "0", "0"]
    assert float(steps[1]["loss"]) == 0.5 and float(steps[2]["time"]) == 1.0

    evals = read_csv(tmp_path / "resnet20.evals.csv")
    assert [row["acc"] for row in evals] == ["0.4", "0.625"]
    assert evals[1]["precision/dog"] == "0.8" and evals[1]["recall/cat"] == "0.75"
    assert evals[1]["confusion/dog/cat"] == "1" and evals[1]["confusion/cat/dog"] == "1"


def test_export_to_chosen_files_and_stdout(tmp_path, capsys, monkeypatch):
    run = record_run(tmp_path / "plain.resviz", steps=3)
    out = tmp_path / "exports" / "plain-run.csv"
    assert main(["runs", "export", str(run), "--csv", "--out", str(out)]) == 0
    assert len(read_csv(out)) == 3 and len(read_csv(tmp_path / "exports" / "plain-run.evals.csv")) == 2
    capsys.readouterr()
    assert main(["runs", "export", str(run), "--out", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["step"] for row in rows] == ["0", "10", "20"]
    # A run name resolves in runs/ with the suffix added.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    record_run(tmp_path / "runs" / "named.resviz", steps=2)
    assert main(["runs", "export", "named", "--evals-out", str(tmp_path / "e.csv")]) == 0
    assert len(read_csv(tmp_path / "runs" / "named.steps.csv")) == 2 and len(read_csv(tmp_path / "e.csv")) == 2


def test_export_of_a_big_run_reads_in_chunks(tmp_path, capsys, monkeypatch):
    import resviz.commands.runs as runs_command

    monkeypatch.setattr(runs_command, "EXPORT_CHUNK", 7)
    run = record_run(tmp_path / "long.resviz", steps=50)
    assert main(["runs", "export", str(run), "--out", str(tmp_path / "long.csv")]) == 0
    assert [int(row["step"]) for row in read_csv(tmp_path / "long.csv")] == list(range(0, 500, 10))


def test_export_errors_are_clear(tmp_path, capsys):
    assert main(["runs", "export"]) == 2
    assert "give the run file to export" in capsys.readouterr().err
    assert main(["runs", "export", str(tmp_path / "none.resviz")]) == 2
    assert f"run file {tmp_path / 'none.resviz'} does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.resviz"
    junk.write_bytes(b"SQLite format 3\x00" + os.urandom(5000))
    assert main(["runs", "export", str(junk), "--csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"resviz: error: run file {junk}") and "Traceback" not in err
    assert not (tmp_path / "junk.steps.csv").exists()
    assert main(["runs", str(tmp_path), "extra"]) == 2
    assert "did you mean: resviz runs export extra" in capsys.readouterr().err


def test_a_damaged_field_lists_that_run_as_unreadable_and_the_others_as_they_are(tmp_path, capsys):
    import sqlite3

    record_run(tmp_path / "fine.resviz")
    damaged = record_run(tmp_path / "damaged.resviz")
    db = sqlite3.connect(damaged)
    db.execute("UPDATE run SET created = 'yesterday', updated = 'today'")  # REAL columns holding text
    db.commit()
    db.close()
    assert main(["runs", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    rows = {line.split()[0]: line.split() for line in captured.out.splitlines()[1:]}
    assert rows["fine"][:5] == ["fine", "resnet20", "5", "finished", "62.5%"]
    assert rows["damaged"][:4] == ["damaged", "-", "-", "unreadable"]
    assert captured.err.strip() == (f"resviz: warning: run file {damaged} is damaged: the run record has created "
                                    "'yesterday', expected a number from 0 to 1e+11")
    assert main(["runs", str(damaged)]) == 2  # asked for by name: one line, exit 2
    assert capsys.readouterr().err.startswith(f"resviz: error: run file {damaged} is damaged: the run record has")


def test_commands_that_read_a_run_leave_no_wal_or_shm_behind(tmp_path, capsys):
    from resviz.data import SHAPE_CLASSES
    from resviz.models import get_model

    options = {"depth": 8, "width": 4, "input_size": 16, "num_classes": 6}
    run = record_run(tmp_path / "done.resviz", spec=ModelSpec("resnet20", options), classes=SHAPE_CLASSES, status=None)
    run.add_checkpoint(40, 1, get_model("resnet20", **options).state_dict())
    run.finish()
    run = run.path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.resviz"]
    assert main(["runs", str(tmp_path)]) == 0
    assert main(["runs", str(run), "--json"]) == 0
    assert main(["runs", "export", str(run), "--csv", "--out", str(tmp_path / "csv" / "done.steps.csv")]) == 0
    assert main(["attribute", str(run), "-m", "saliency", "--images", "1", "--dataset", "shapes",
                 "--out", str(tmp_path / "maps.png")]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csv", "done.resviz", "maps.png"]
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["done.evals.csv", "done.steps.csv"]


def test_an_export_cut_short_leaves_no_partial_csv(tmp_path, capsys, monkeypatch):
    import resviz.commands.runs as runs_command

    run = record_run(tmp_path / "cut.resviz", steps=20)
    out = tmp_path / "cut.steps.csv"
    out.write_text("the export before\n")
    monkeypatch.setattr(runs_command, "EXPORT_CHUNK", 5)
    written = runs_command.step_rows

    def rows_then_full_disk(batch):
        if int(batch.step[0]) > 0:
            raise OSError(28, "No space left on device")
        yield from written(batch)

    monkeypatch.setattr(runs_command, "step_rows", rows_then_full_disk)
    assert main(["runs", "export", str(run), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"resviz: error: cannot write {out}: [Errno 28] No space left on device"
    assert out.read_text() == "the export before\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.resviz", "cut.steps.csv"]


def run_numbers(path):
    from resviz.runfile import open_run

    with open_run(path) as reader:
        return reader.info(), reader.read_steps(), reader.evals()


def test_export_as_parquet_holds_the_run_files_numbers_typed(tmp_path, capsys, monkeypatch):
    import pyarrow.parquet as pq

    import resviz.commands.runs as runs_command

    monkeypatch.setattr(runs_command, "EXPORT_CHUNK", 2)  # several row groups, one file
    run = record_run(tmp_path / "resnet20.resviz", steps=5)
    assert main(["runs", "export", str(run), "--parquet"]) == 0
    assert "wrote 5 steps of resnet20 to" in capsys.readouterr().err
    info, steps, evals = run_numbers(run)
    table = pq.read_table(tmp_path / "resnet20.steps.parquet")
    csv_columns = list(read_csv_header(run, tmp_path))
    assert table.column_names == csv_columns  # the CSV export's columns, in its order
    assert str(table.schema.field("step").type) == "int64" and str(table.schema.field("nonfinite").type) == "bool"
    assert table.column("step").to_pylist() == steps.step.tolist()
    assert table.column("nonfinite").to_pylist() == steps.nonfinite.tolist()
    np.testing.assert_array_equal(table.column("loss").to_numpy(), steps.loss)
    for statistic, ids in [("grad_norm", LAYERS), ("update_ratio", LAYERS), ("act_grad_norm", BLOCKS)]:
        for index, name in enumerate(ids):
            column = table.column(f"{statistic}/{name}")
            assert str(column.type) == "float"  # float32, as recorded
            np.testing.assert_array_equal(column.to_numpy(), getattr(steps, statistic)[:, index])  # NaN where NaN

    evals_table = pq.read_table(tmp_path / "resnet20.evals.parquet").to_pylist()
    assert [row["acc"] for row in evals_table] == [e.acc for e in evals]
    assert [row["split"] for row in evals_table] == ["test", "test"]
    assert evals_table[1]["precision/dog"] == evals[1].precision[1] and evals_table[1]["confusion/dog/cat"] == 1


def read_csv_header(run, tmp_path):
    assert main(["runs", "export", str(run), "--out", str(tmp_path / "header.csv")]) == 0
    with open(tmp_path / "header.csv", newline="") as handle:
        return next(csv.reader(handle))


def tensorboard_scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: every point, no sampling
    events.Reload()
    return {tag: events.Scalars(tag) for tag in events.Tags()["scalars"]}


def test_export_to_tensorboard_writes_the_run_files_numbers_as_scalars(tmp_path, capsys):
    run = record_run(tmp_path / "resnet20.resviz", steps=5)
    logs = tmp_path / "logs"
    assert main(["runs", "export", str(run), "--tensorboard", str(logs)]) == 0
    assert f"view them with: tensorboard --logdir {logs}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "resnet20.resviz"]  # no tables asked for
    info, steps, evals = run_numbers(run)
    scalars = tensorboard_scalars(logs / "resnet20")  # one TensorBoard run per run file, by its name
    for index, layer in enumerate(LAYERS):
        points = scalars[f"grad_norm/{layer}"]
        assert [p.step for p in points] == steps.step.tolist()
        assert [p.value for p in points] == steps.grad_norm[:, index].tolist()  # float32 both ways: exact
        assert [p.value for p in scalars[f"weight_norm/{layer}"]] == steps.weight_norm[:, index].tolist()
    assert [p.value for p in scalars["act_grad_norm/layer1.0"]] == steps.act_grad_norm[:, 0].tolist()
    assert [p.value for p in scalars["dead_relu/layer1.0"]] == steps.dead_relu[:, 0].tolist()
    np.testing.assert_allclose([p.value for p in scalars["loss/train"]], steps.loss, rtol=1e-7)
    np.testing.assert_allclose([p.wall_time for p in scalars["loss/train"]], info.created + steps.time, rtol=1e-12)
    assert [p.value for p in scalars["lr"]] == pytest.approx(steps.lr.tolist())
    assert [(p.step, p.value) for p in scalars["acc/test"]] == [(e.step, pytest.approx(e.acc)) for e in evals]
    assert [p.value for p in scalars["loss/test"]] == pytest.approx([e.loss for e in evals])
    # NaN marks what was not measured (no batch accuracy, no previous weights here): left out.
    assert "acc/train" not in scalars and not any(tag.startswith("update_ratio/") for tag in scalars)

    # Exported again beside the tables: the events replace the earlier ones (each point once).
    assert main(["runs", "export", str(run), "--csv", "--tensorboard", str(logs)]) == 0
    assert len(list((logs / "resnet20").iterdir())) == 1 and not list(logs.glob(".*"))
    assert len(tensorboard_scalars(logs / "resnet20")["grad_norm/fc"]) == 5
    assert len(read_csv(tmp_path / "resnet20.steps.csv")) == 5


def test_export_without_the_package_says_which_to_install(tmp_path, capsys, monkeypatch):
    run = record_run(tmp_path / "run.resviz", steps=2)
    for module in ("pyarrow", "pyarrow.parquet", "tensorboard"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as when it is not installed
    assert main(["runs", "export", str(run), "--parquet"]) == 2
    assert capsys.readouterr().err.strip() == ("resviz: error: runs export --parquet needs the pyarrow package, "
                                               "which is not installed; install it with: pip install pyarrow")
    assert main(["runs", "export", str(run), "--csv", "--tensorboard", str(tmp_path / "logs")]) == 2
    assert capsys.readouterr().err.strip() == ("resviz: error: runs export --tensorboard needs the tensorboard "
                                               "package, which is not installed; install it with: pip install "
                                               "tensorboard")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.resviz"]  # checked before anything is written


def test_export_format_errors_are_one_line(tmp_path, capsys):
    run = record_run(tmp_path / "run.resviz", steps=2)
    for argv, words in [(["--csv", "--parquet"], "choose --csv or --parquet"),
                        (["--parquet", "--out", "-"], "--parquet writes files"),
                        (["--json"], "the export formats are --csv, --parquet and --tensorboard DIR")]:
        assert main(["runs", "export", str(run), *argv]) == 2
        assert words in capsys.readouterr().err
    assert main(["runs", str(tmp_path), "--tensorboard", str(tmp_path / "logs")]) == 2
    assert "belong to 'resviz runs export RUN'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.resviz"]
