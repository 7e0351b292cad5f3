"""``resviz train MODEL``: train a model (or its plain and residual twins) into run files.

    resviz train                                       ResNet-20 on shapes, quick on a CPU
    resviz train plain56 -o norm=none --twin --epochs 3 --out runs/vanish.resviz
    resviz train resnet20 --dataset cifar10 --download --epochs 160 --schedule step --augment
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import IO

from ._common import add_model_arguments, model_options, trusted_sha256

EXIT_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..train.config import NONFINITE_POLICIES, OPTIMIZERS, SCHEDULES, TrainConfig

    defaults = TrainConfig()
    parser = subparsers.add_parser(
        "train", help="train a model while recording its gradients into a run file",
        description="Train a zoo model (or your own, with --trust) while recording per-layer gradient norms, "
                    "weight norms, update ratios and block activation-gradient norms into a run file that the "
                    "window opens live or as a replay. With no options: synthetic shapes, on the best device.")
    parser.add_argument("model", metavar="MODEL", nargs="?", default=defaults.model,
                        help="a zoo name (see 'resviz models'; default %(default)s) or path/to/file.py:factory "
                             "(needs --trust)")
    add_model_arguments(parser, positional=False)
    parser.add_argument("--twin", action="store_true",
                        help="train the plain and the residual twin with the same seed and data order, "
                             "into NAME-plain.resviz and NAME-residual.resviz")
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default=defaults.dataset, metavar="NAME",
                      help="shapes (default, made on the fly), mnist, fashion, cifar10, cifar100, or a folder "
                           "with a subfolder of images per class")
    data.add_argument("--data-dir", metavar="DIR", help="where the real data sets are (or are downloaded to)")
    data.add_argument("--download", action="store_true", help="download a missing data set (checksum verified)")
    data.add_argument("--samples", type=int, metavar="N", help="training samples (shapes: how many to make; "
                                                                "others: a random subset)")
    data.add_argument("--test-samples", type=int, metavar="N", help="held-out samples")
    data.add_argument("--image-size", type=int, metavar="N", help="resize the images to NxN as they are read "
                                                                   "(needed for a folder of mixed sizes)")
    data.add_argument("--augment", action="store_true", help="pad 4, random crop, horizontal flip (He et al.)")
    data.add_argument("--no-normalize", action="store_true", help="feed pixels in [0, 1] instead of standardised")
    optimisation = parser.add_argument_group("optimisation")
    optimisation.add_argument("--epochs", type=int, help="epochs (default 1, or as many as --steps needs)")
    optimisation.add_argument("--steps", type=int, metavar="N",
                              help="train N steps in all, over as many epochs as they take (with --epochs: "
                                   "whichever ends first)")
    optimisation.add_argument("--batch-size", type=int, help="batch size (default: the model's recipe)")
    optimisation.add_argument("--optimizer", choices=OPTIMIZERS, help="default: the model's recipe (SGD with "
                              "momentum for nets with norm layers, Adam for nets without)")
    optimisation.add_argument("--lr", type=float, help="learning rate (default: the model's recipe)")
    optimisation.add_argument("--momentum", type=float, help="SGD momentum (default: the recipe's, 0.9)")
    optimisation.add_argument("--weight-decay", type=float, help="weight decay (default: the model's recipe)")
    optimisation.add_argument("--schedule", choices=SCHEDULES,
                              help="learning-rate schedule (default: the recipe's cosine decay); step: x0.1 at "
                                   "50%% and 75%% of training")
    optimisation.add_argument("--warmup", type=float, metavar="FRACTION",
                              help="linear warm-up over this fraction of the steps (default: the recipe's)")
    optimisation.add_argument("--device", default=defaults.device, help="auto (cuda, then mps, then cpu), cuda, "
                                                                        "mps or cpu")
    optimisation.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    optimisation.add_argument("--seed", type=int, default=defaults.seed, help="seed of the weights and the "
                                                                              "data order (default 0)")
    recording = parser.add_argument_group("recording")
    recording.add_argument("--record-every", type=int, default=defaults.record_every, metavar="N",
                           help="record one step in N (default every step)")
    recording.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every, metavar="K",
                           help="store the weights every K epochs (0: only the final ones)")
    recording.add_argument("--nonfinite", choices=NONFINITE_POLICIES, default=defaults.nonfinite,
                           help="on a NaN or Inf loss or gradient: stop the run, or skip the step")
    recording.add_argument("--out", metavar="PATH", help="the run file, or a folder to put it in (default "
                                                         "runs/MODEL-TIME.resviz)")
    recording.add_argument("--overwrite", action="store_true", help="replace an existing run file")
    recording.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from ..models import parse_input_shape
    from ..train.config import TrainConfig

    return TrainConfig(
        model=args.model, model_options=model_options(args), trust=args.trust, trusted_sha256=trusted_sha256(args),
        weights=args.weights, image_size=args.image_size,
        input_shape=parse_input_shape(args.input_shape) if args.input_shape else None,
        dataset=args.dataset, data_dir=args.data_dir, download=args.download, train_samples=args.samples,
        test_samples=args.test_samples, augment=args.augment, normalize=not args.no_normalize, epochs=args.epochs,
        max_steps=args.steps, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule, warmup=args.warmup,
        device=args.device,
        amp=args.amp, seed=args.seed, record_every=args.record_every, checkpoint_every=args.checkpoint_every,
        nonfinite=args.nonfinite, out=args.out, overwrite=args.overwrite).validate()


def run(args: argparse.Namespace) -> int:
    from ..train.control import StopSignal, StopSignals, signal_name

    # SIGTERM and SIGHUP end the run as stopped, as Ctrl+C does, with every step it recorded.
    signals = StopSignals()
    try:
        with signals:
            code = _train(args, signals.control)
    except StopSignal as exc:
        print(f"resviz: {exc}", file=sys.stderr)
        return exc.exit_code
    if signals.received is not None:
        print(f"resviz: stopped by {signal_name(signals.received)}", file=sys.stderr)
        return signals.exit_code
    return code


def _train(args: argparse.Namespace, control) -> int:
    from ..train.trainer import Trainer
    from ..train.twins import twin_configs

    config = config_from_args(args)
    configs = list(twin_configs(config)) if args.twin else [config]
    failed = False
    for index, one in enumerate(configs):
        label = f"{one.model} [{index + 1}/{len(configs)}]" if len(configs) > 1 else one.model
        bar = None if args.quiet else TrainingProgressLine(label)
        warn = WarningLine(label if len(configs) > 1 else None, bar)
        try:
            result = Trainer(one, on_progress=bar, on_warning=warn, control=control).run()
        finally:
            if bar is not None:
                bar.close()
        summary = f"{result.path}: {result.status}, {result.steps} steps"
        if result.final_accuracy is not None and not math.isnan(result.final_accuracy):
            summary += f", test accuracy {result.final_accuracy:.1%}"
        print(summary)
        if result.status == "failed":
            print(f"resviz: run failed: {result.error}", file=sys.stderr)
            failed = True
            break
        if result.status == "stopped":
            break
    return EXIT_FAILED if failed else 0


class WarningLine:
    """``resviz: warning: ...`` on stderr for each health warning (the monitor raises each kind once),
    clearing an in-place progress line first."""

    def __init__(self, label: str | None, bar: TrainingProgressLine | None) -> None:
        self.label, self.bar = label, bar

    def __call__(self, warning) -> None:
        text = f"resviz: warning: {self.label + ': ' if self.label else ''}{warning.message}"
        if self.bar is not None:
            self.bar.note(text)
        else:
            print(text, file=sys.stderr, flush=True)


class TrainingProgressLine:
    """``resnet20  epoch 2/5  [#####....]  step 120/300  loss 1.234  acc 56.2%  14.2 steps/s``, on stderr.

    On a terminal it redraws in place; in a log it prints a line per evaluation.
    """

    def __init__(self, label: str, stream: IO[str] | None = None, width: int = 20) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        self._drawn = False

    def __call__(self, progress) -> None:
        text = self.render(progress)
        if self.interactive:
            now = time.monotonic()
            if progress.phase == "train" and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            self.stream.write("\r" + text + "\x1b[K")
            self._drawn = True
        elif progress.phase in ("eval", "paused"):
            self.stream.write(text + "\n")
        self.stream.flush()

    def render(self, progress) -> str:
        fraction = progress.step / progress.total_steps if progress.total_steps else 0.0
        filled = int(min(fraction, 1.0) * self.width)
        parts = [self.label, f"epoch {min(progress.epoch + 1, progress.epochs)}/{progress.epochs}",
                 f"[{'#' * filled}{'.' * (self.width - filled)}]", f"step {progress.step}/{progress.total_steps}"]
        if not math.isnan(progress.loss):
            parts.append(f"loss {progress.loss:.4g}")
        if not math.isnan(progress.acc):
            parts.append(f"acc {progress.acc:.1%}")
        if progress.steps_per_second:
            parts.append(f"{progress.steps_per_second:.1f} steps/s")
        if progress.eval_acc is not None:
            parts.append(f"test acc {progress.eval_acc:.1%}")
        if progress.phase == "paused":
            parts.append("(paused)")
        return "  ".join(parts)

    def note(self, text: str) -> None:
        """A line of its own; an in-place progress line is cleared first and redrawn by the next progress."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


__all__ = ["TrainingProgressLine", "WarningLine", "config_from_args", "register", "run"]
