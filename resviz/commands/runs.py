"""``resviz runs``: list run files, or export one to CSV, Parquet or TensorBoard.

    resviz runs [FOLDER]                          the run files in FOLDER (default runs/)
    resviz runs export RUN --csv [--out FILE]     steps (and evaluations) of one run as CSV
    resviz runs export RUN --parquet              the same tables as Parquet (with pyarrow)
    resviz runs export RUN --tensorboard DIR      its statistics and metrics as TensorBoard scalars
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import ResvizError

DEFAULT_FOLDER = "runs"
EXPORT_CHUNK = 2000  # steps read and written at a time, so huge runs export in bounded memory
USAGE = ("%(prog)s [FOLDER] [--json]\n"
         "       %(prog)s export RUN [--csv | --parquet] [--out FILE] [--evals-out FILE] [--tensorboard DIR]")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "runs", help="list run files, or export one as CSV, Parquet or TensorBoard scalars", usage=USAGE,
        description="List the run files in FOLDER (default runs/): name, model, steps, status, best held-out "
                    "accuracy, and whether the run is being written now. 'resviz runs export RUN' writes a run's "
                    "steps as CSV (step, epoch, time, loss, acc, lr, and a column per layer for every recorded "
                    "statistic, e.g. grad_norm/<layer id>) and its evaluations as a second CSV; --parquet writes the "
                    "same tables as Parquet, and --tensorboard DIR writes the same numbers as TensorBoard scalars "
                    "(tags such as grad_norm/<layer id>, loss/train, acc/test) into DIR/<run name>, replacing "
                    "what an earlier export of that run wrote there.")
    parser.add_argument("target", nargs="?", metavar="FOLDER", help="a folder of run files, a run file, or 'export'")
    parser.add_argument("run", nargs="?", metavar="RUN", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="list as JSON, for scripts")
    parser.add_argument("--csv", action="store_true", help="export the tables as CSV (the default)")
    parser.add_argument("--parquet", action="store_true", help="export the tables as Parquet (needs pyarrow)")
    parser.add_argument("--tensorboard", metavar="DIR",
                        help="write TensorBoard scalars into DIR/<run name> (needs tensorboard); without --csv, "
                             "--parquet or --out, only these")
    parser.add_argument("--out", metavar="FILE",
                        help="where the steps table goes (default: beside the run, NAME.steps.csv or "
                             "NAME.steps.parquet; '-' for stdout, CSV only)")
    parser.add_argument("--evals-out", metavar="FILE",
                        help="where the evaluations table goes (default: the --out name with .evals.csv or "
                             ".evals.parquet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _dispatch(args)
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.target == "export":
        if not args.run:
            raise ResvizError("runs export: give the run file to export, e.g. "
                              "resviz runs export runs/NAME.resviz --csv")
        if args.json:
            raise ResvizError("runs export: --json is for listing; the export formats are --csv, --parquet "
                              "and --tensorboard DIR")
        return export_command(resolve_run_path(args.run), as_csv=args.csv, as_parquet=args.parquet,
                              tensorboard=args.tensorboard, out=args.out, evals_out=args.evals_out)
    if args.run:
        raise ResvizError(f"runs: unexpected argument {args.run!r} (did you mean: resviz runs export {args.run}?)")
    if args.csv or args.parquet or args.tensorboard or args.out or args.evals_out:
        raise ResvizError("runs: --csv, --parquet, --tensorboard, --out and --evals-out belong to "
                          "'resviz runs export RUN'")
    return list_command(Path(args.target or DEFAULT_FOLDER), as_json=args.json)


# --------------------------------------------------------------------------------------------
# Listing


def format_age(updated: float, now: float | None = None) -> str:
    now = time.time() if now is None else now
    age = max(0.0, now - updated)
    if age < 60:
        return f"{age:.0f} s ago"
    if age < 3600:
        return f"{age / 60:.0f} min ago"
    if age < 86400:
        return f"{age / 3600:.0f} h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(updated))


def list_command(target: Path, *, as_json: bool) -> int:
    from ..runfile import list_runs, summarize_run

    if target.is_file():
        summaries = [summarize_run(target)]
        if summaries[0].error:
            raise ResvizError(summaries[0].error)
    else:
        summaries = list_runs(target)
    from ..runfile import status_label

    if as_json:
        print(json.dumps([{
            "path": str(s.path), "name": s.name, "model": s.model, "steps": s.steps, "last_step": s.last_step,
            "status": status_label(s.status, s.run_error, live=s.live), "live": s.live, "best_acc": s.best_acc, "updated": s.updated, "error": s.error,
        } for s in summaries], indent=2))
        return 0
    if not summaries:
        print(f"no run files (*.resviz) in {target}")
        return 0
    header = ("", "name", "model", "steps", "status", "best acc", "updated")
    rows = [("*" if s.live else "", s.name, s.model, str(s.steps) if not s.error else "-",
             status_label(s.status, s.run_error, live=s.live),
             f"{100 * s.best_acc:.1f}%" if s.best_acc is not None else "-", format_age(s.updated))
            for s in summaries]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(w) if c in (3, 5) else cell.ljust(w)
                        for c, (cell, w) in enumerate(zip(row, widths))).rstrip())
    if any(s.live for s in summaries):
        print("* live: being written now")
    for s in summaries:
        if s.error:
            print(f"resviz: warning: {s.error}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------
# Export


def resolve_run_path(text: str) -> Path:
    """RUN as given, else with .resviz added, else in runs/ (so ``resviz runs export resnet20`` works)."""
    path = Path(text).expanduser()
    candidates = [path, path.with_name(path.name + ".resviz"), Path(DEFAULT_FOLDER) / path,
                  Path(DEFAULT_FOLDER) / (path.name + ".resviz")]
    return next((c for c in candidates if c.is_file()), path)


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def step_columns(layer_ids: list[str], block_ids: list[str]) -> list[str]:
    columns = ["step", "epoch", "time", "loss", "acc", "lr", "nonfinite"]
    for name in ("grad_norm", "weight_norm", "update_ratio"):
        columns += [f"{name}/{layer}" for layer in layer_ids]
    for name in ("act_grad_norm", "dead_relu"):
        columns += [f"{name}/{block}" for block in block_ids]
    return columns


def step_rows(batch) -> Iterator[list[str]]:
    # numpy writes each float32 as the shortest text that reads back to the same value (0.1, not
    # 0.10000000149 as float64 would); nan and inf as nan, inf, -inf.
    vectors = np.concatenate([batch.grad_norm, batch.weight_norm, batch.update_ratio, batch.act_grad_norm,
                              batch.dead_relu], axis=1).astype(np.float32).astype(str).tolist()
    for i, (step, epoch, t, loss, acc, lr, nonfinite) in enumerate(zip(
            batch.step.tolist(), batch.epoch.tolist(), batch.time.tolist(), batch.loss.tolist(), batch.acc.tolist(),
            batch.lr.tolist(), batch.nonfinite.tolist())):
        yield [str(step), str(epoch), _float(t), _float(loss), _float(acc), _float(lr), str(int(nonfinite)),
               *vectors[i]]


def eval_columns(classes: list[str]) -> list[str]:
    columns = ["step", "epoch", "split", "loss", "acc"]
    columns += [f"precision/{c}" for c in classes] + [f"recall/{c}" for c in classes]
    columns += [f"confusion/{true}/{predicted}" for true in classes for predicted in classes]
    return columns


def eval_rows(records) -> Iterator[list[str]]:
    for r in records:
        yield [str(r.step), str(r.epoch), r.split, _float(r.loss), _float(r.acc),
               *map(_float, r.precision.tolist()), *map(_float, r.recall.tolist()),
               *map(str, r.confusion.reshape(-1).tolist())]


@contextmanager
def _output(target: str | Path) -> Iterator[IO[str]]:
    if str(target) == "-":
        yield sys.stdout
        return
    from ..files import atomic_write

    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole or not at all: an export cut short (a full disk, a kill) leaves no partial CSV.
        with atomic_write(path, newline="") as handle:
            yield handle
    except OSError as exc:
        raise ResvizError(f"cannot write {path}: {exc}") from None


def run_stem(run_path: Path) -> str:
    return run_path.name[:-len(".resviz")] if run_path.name.endswith(".resviz") else run_path.name


def default_outputs(run_path: Path, out: str | None, evals_out: str | None,
                    suffix: str = ".csv") -> tuple[str, str | None]:
    steps_out = out or str(run_path.with_name(f"{run_stem(run_path)}.steps{suffix}"))
    if evals_out:
        return steps_out, evals_out
    if steps_out == "-":
        return steps_out, None  # stdout carries one table; ask for --evals-out to get the other
    steps_path = Path(steps_out)
    ending = f".steps{suffix}"
    base = steps_path.name[:-len(ending)] if steps_path.name.endswith(ending) else steps_path.stem
    return steps_out, str(steps_path.with_name(f"{base}.evals{suffix}"))


def step_batches(reader) -> Iterator:
    """The run's steps in chunks of EXPORT_CHUNK, so huge runs export in bounded memory."""
    after = -(1 << 62)
    while True:
        batch = reader.read_steps(after=after, limit=EXPORT_CHUNK)
        if not len(batch):
            return
        yield batch
        after = int(batch.step[-1])


def eval_classes(run_path: Path, info, evals) -> list[str]:
    """The class names for the evaluations' per-class columns (numbers when the run names none)."""
    classes = info.classes
    width = evals[0].num_classes if evals else len(classes)
    if len(classes) != width:
        classes = [str(k) for k in range(width)]
    if any(e.num_classes != width for e in evals):
        raise ResvizError(f"run file {run_path} has evaluations with different numbers of classes; "
                          "they do not fit one table")
    return classes


def export_command(run_path: Path, *, as_csv: bool = False, as_parquet: bool = False, tensorboard: str | None = None,
                   out: str | None = None, evals_out: str | None = None) -> int:
    """The tables (CSV unless --parquet; none when only --tensorboard is asked for) and the scalars."""
    if as_csv and as_parquet:
        raise ResvizError("runs export: choose --csv or --parquet (--out names one file)")
    if as_parquet and "-" in (out, evals_out):
        raise ResvizError("runs export: --parquet writes files; '-' (stdout) is for CSV")
    from . import _run_exports

    if as_parquet:
        _run_exports.require("pyarrow.parquet", "--parquet")
    if tensorboard is not None:
        _run_exports.require("tensorboard", "--tensorboard")
    if as_parquet:
        export_parquet(run_path, out=out, evals_out=evals_out)
    elif as_csv or tensorboard is None or out or evals_out:
        export_run(run_path, out=out, evals_out=evals_out)
    if tensorboard is not None:
        export_tensorboard(run_path, tensorboard)
    return 0


def export_parquet(run_path: Path, *, out: str | None = None, evals_out: str | None = None) -> int:
    from ..runfile import RunReader
    from ._run_exports import eval_table, step_table, write_parquet

    steps_out, evals_target = default_outputs(run_path, out, evals_out, ".parquet")
    with RunReader(run_path) as reader:
        info = reader.info()
        count = 0

        def tables() -> Iterator:
            nonlocal count
            for batch in step_batches(reader):
                count += len(batch)
                yield step_table(batch, info.layer_ids, info.block_ids)

        empty = step_table(reader.read_steps(limit=0), info.layer_ids, info.block_ids)
        write_parquet(steps_out, tables(), empty)
        evals = reader.evals()
        table = eval_table(evals, eval_classes(run_path, info, evals))
        write_parquet(evals_target, [table], table)
    print(f"wrote {count} steps of {info.name} to {steps_out} and {len(evals)} evaluations to {evals_target}",
          file=sys.stderr)
    return 0


def export_tensorboard(run_path: Path, folder: str) -> int:
    from ..runfile import RunReader
    from ._run_exports import TensorBoardRun, eval_scalars, step_scalars

    with RunReader(run_path) as reader:
        info = reader.info()
        events = TensorBoardRun(folder, run_stem(run_path), info.created)
        try:
            count = 0
            for batch in step_batches(reader):
                for step, seconds, values in step_scalars(batch, info.layer_ids, info.block_ids):
                    events.add(step, values, info.created + seconds)
                count += len(batch)
            evals = reader.evals()
            for step, values in eval_scalars(evals):
                events.add(step, values, info.updated)
        except BaseException:
            events.abandon()
            raise
        target = events.finish()
    print(f"wrote {events.points} TensorBoard scalars of {info.name} ({count} steps, {len(evals)} evaluations) "
          f"to {target}; view them with: tensorboard --logdir {folder}", file=sys.stderr)
    return 0


def export_run(run_path: Path, *, out: str | None = None, evals_out: str | None = None) -> int:
    from ..runfile import RunReader

    steps_out, evals_target = default_outputs(run_path, out, evals_out)
    with RunReader(run_path) as reader:
        info = reader.info()
        count = 0
        with _output(steps_out) as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(step_columns(info.layer_ids, info.block_ids))
            for batch in step_batches(reader):
                writer.writerows(step_rows(batch))
                count += len(batch)
        evals = reader.evals()
        if evals_target is not None:
            classes = eval_classes(run_path, info, evals)
            with _output(evals_target) as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(eval_columns(classes))
                writer.writerows(eval_rows(evals))
    where = "stdout" if steps_out == "-" else steps_out
    message = f"wrote {count} steps of {info.name} to {where}"
    if evals_target is not None:
        message += f" and {len(evals)} evaluations to {'stdout' if evals_target == '-' else evals_target}"
    print(message, file=sys.stderr)
    return 0
