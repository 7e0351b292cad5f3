"""``resviz bench trainer``: the trainer's loop against a hand-written PyTorch loop doing the same work.

Both sides train the same model on the same batches for the same number of steps with the
same recorder and run file, evaluate once and store the final weights; what differs is the
trainer's orchestration (control checks, schedule, non-finite policy, progress, events).
Rounds alternate in one process (ABBA), and the result is the ratio of the median seconds
per step. Model and data preparation are outside the timing on both sides.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HELP = "trainer overhead: the trainer's loop against a hand-written loop doing the same work, as a ratio"
TARGET = 1.05


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resnet20", help="zoo model (default resnet20)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option, e.g. -o width=8 (repeatable)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--steps", type=int, default=4, help="steps per round (default 4)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds in all, half per side (default 10)")
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: its own choice)")


def run(args: argparse.Namespace) -> int:
    from ..errors import ResvizError
    from ..models import parse_option
    from ..train.config import TrainConfig
    from ..train.device import choose_device, device_label

    if args.batch_size < 1 or args.steps < 1 or args.rounds < 2:
        raise ResvizError("--batch-size and --steps must be at least 1 and --rounds at least 2")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    options = dict(parse_option(text) for text in args.option)
    timings: dict[str, list[float]] = {"trainer": [], "hand-written": []}
    print(f"trainer overhead: {args.model}, batch {args.batch_size}, {args.steps} steps per round, "
          f"{device_label(device)}")
    with tempfile.TemporaryDirectory() as folder:
        def round_config(name: str, steps: int) -> TrainConfig:
            return TrainConfig(model=args.model, model_options=options, device=str(device),
                               batch_size=args.batch_size, max_steps=steps, train_samples=steps * args.batch_size,
                               test_samples=args.batch_size, checkpoint_every=0,
                               out=str(Path(folder) / f"{name}.resviz")).with_recipe()

        # First-use costs (imports, allocator, kernels) are paid by an untimed round on each side.
        _time_trainer(round_config("warm-trainer", 2))
        _time_hand_written(round_config("warm-hand", 2))
        for index in range(args.rounds):
            config = round_config(f"round{index}", args.steps)
            side = "trainer" if index % 4 in (0, 3) else "hand-written"
            seconds = (_time_trainer if side == "trainer" else _time_hand_written)(config)
            timings[side].append(seconds / args.steps)
            print(f"  round {index + 1}/{args.rounds} {side:12s} {seconds / args.steps:.4f} s/step", flush=True)
    report(timings["trainer"], timings["hand-written"], "trainer", "hand-written loop", TARGET)
    return 0


def report(measured: list[float], baseline: list[float], name: str, baseline_name: str,
           target: float | None) -> float:
    """Print both sides and their ratio; the ratio of the fastest rounds is the one judged.

    On a shared machine other work only ever adds time, so the fastest round of each side is
    the steadiest estimate of its own cost; the medians are shown beside it.
    """
    width = max(len(name), len(baseline_name)) + 1
    for label, values in ((baseline_name, baseline), (name, measured)):
        print(f"{label + ':':{width}s} fastest {min(values):.4f} s/step, median {statistics.median(values):.4f} "
              f"s/step ({len(values)} measurements)")
    ratio = min(measured) / min(baseline)
    median_ratio = statistics.median(measured) / statistics.median(baseline)
    verdict = f" (target <= {target:.2f}: {'met' if ratio <= target else 'NOT met'})" if target else ""
    print(f"ratio: {ratio:.3f}{verdict}; ratio of medians {median_ratio:.3f}")
    return ratio


def _time_trainer(config) -> float:
    from ..train.device import synchronize
    from ..train.trainer import Trainer

    trainer = Trainer(config).prepare()
    synchronize(trainer.device)
    start = time.perf_counter()
    trainer.run()
    synchronize(trainer.device)
    return time.perf_counter() - start


def _time_hand_written(config) -> float:
    """The same work without the trainer: the loop a user would write around the recorder."""
    from ..data import BatchLoader, dataset_stats
    from ..runfile import EvalRecord, RunWriter
    from ..train.device import choose_device, synchronize
    from ..train.metrics import confusion_counts, precision_recall
    from ..train.recorder import GradientRecorder
    from ..train.setup import prepare
    from ..train.trainer import make_optimizer

    device = choose_device(config.device)
    prepared = prepare(config)
    model = prepared.model.to(device)
    mean, std = dataset_stats(prepared.train)
    train = BatchLoader(prepared.train, batch_size=config.batch_size, shuffle=True, seed=config.seed, device=device,
                        mean=mean, std=std)
    test = BatchLoader(prepared.test, batch_size=max(config.batch_size, 256), shuffle=False, seed=config.seed,
                       device=device, mean=mean, std=std)
    optimizer = make_optimizer(config, model.parameters())  # the trainer's optimizer (fused where it can be)
    classes = len(prepared.train.classes)
    synchronize(device)
    start = time.perf_counter()
    recorder = GradientRecorder(model, flush_every=config.flush_every, flush_seconds=config.flush_seconds)
    writer = RunWriter(config.out, model_spec=prepared.spec, config=config.to_dict(), layer_ids=recorder.layer_ids,
                       block_ids=recorder.block_ids, device=str(device), classes=prepared.train.classes,
                       commit_every=config.flush_every, structure=recorder.structure)
    recorder.sink = lambda steps: writer.add_steps(steps.to_step_batch())
    recorder.clock = writer.elapsed
    step = 0
    with recorder:
        for x, y in train:
            out = model(x)
            loss = F.cross_entropy(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            recorder.step(loss=loss, acc=(out.argmax(1) == y).float().mean(), lr=config.learning_rate)
            if recorder.last_flags.item():
                break
            optimizer.step()
            step += 1
            if step >= config.max_steps:
                break
        recorder.finish()
        model.eval()
        confusion = torch.zeros(classes, classes, dtype=torch.int64, device=device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        with torch.no_grad():
            for x, y in test:
                out = model(x)
                loss_sum += F.cross_entropy(out, y, reduction="sum").double()
                confusion += confusion_counts(y, out.argmax(1), classes)
        model.train()
    matrix = confusion.cpu().numpy()
    precision, recall = precision_recall(matrix)
    writer.add_eval(EvalRecord(step=step, epoch=0, split="test", loss=loss_sum.item() / matrix.sum(),
                               acc=matrix.trace() / matrix.sum(), confusion=matrix, precision=precision,
                               recall=recall))
    writer.add_checkpoint(step, 0, model.state_dict())
    writer.finish()
    synchronize(device)
    return time.perf_counter() - start
