"""``resviz bench recorder``: what recording gradients costs a training step.

The same loop (forward, backward, optimizer step) alternates step by step, in ABBA order,
between running with the recorder (hooks attached, ``recorder.step()`` called) and without it,
in one process, so a busy machine slows both sides alike. Every step with the recorder does
its full work, the update ratio included (the recorder counts only its own steps, so its
previous snapshot is always one of its steps). The recorded rows go into a real run file, as
in training. The result is the ratio of the step times.

On a CPU shared with other work, two step times can differ by more than the recorder costs,
so the recorder's own work is also timed directly (its hooks and ``step()``, which run
synchronously on the CPU) and shown as a share of the step time measured beside it. On CUDA,
the host synchronisations per step are counted too (CUDA's sync debug mode, over enough steps
to include a flush of the recorded rows): the recorder should add none.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from .compiled import COMPILE_BACKENDS, compiled_row

HELP = "recorder overhead: step time with and without the gradient recorder, as a ratio"
TARGET_CPU = 1.03


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="resnet56", help="zoo model (default resnet56)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option, e.g. -o norm=none (repeatable)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--steps", type=int, default=8,
                        help="timed steps per side (default 8; more for a steadier number)")
    parser.add_argument("--every", type=int, default=1, help="record every N steps (default 1)")
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: its own choice)")
    parser.add_argument("--compile", choices=COMPILE_BACKENDS, metavar="BACKEND",
                        help="also time the loop under torch.compile with this backend (inductor, aot_eager or "
                             "eager), with and without the recorder")
    parser.add_argument("--lightning", action="store_true",
                        help="also time resviz's Lightning callback against the same Lightning loop without it")


def run(args: argparse.Namespace) -> int:
    from ..errors import ResvizError
    from ..models import get_model, parse_option
    from ..runfile import RunWriter
    from ..train.device import choose_device, device_label, synchronize
    from .trainer import report

    GradientRecorder = _timed_recorder_class()

    if args.batch_size < 1 or args.steps < 1:
        raise ResvizError("--batch-size and --steps must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    options = dict(parse_option(text) for text in args.option)
    torch.manual_seed(0)
    model = get_model(args.model, **options).to(device)
    x = torch.randn(args.batch_size, *model.input_shape, device=device)
    y = torch.randint(0, int(options.get("num_classes", 10)), (args.batch_size,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train_step(recorder: GradientRecorder | None) -> None:
        out = model(x)
        loss = F.cross_entropy(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recorder is not None:
            recorder.step(loss=loss, acc=(out.argmax(1) == y).float().mean(), lr=0.01)
        optimizer.step()

    own_work: list[float] = []

    def recorded_step(recorder: GradientRecorder | None) -> None:
        if recorder is not None:
            recorder.attach()
        try:
            train_step(recorder)
        finally:
            if recorder is not None:
                recorder.detach()

    def timed_step(recorder: GradientRecorder | None) -> float:
        synchronize(device)
        start = time.perf_counter()
        if recorder is not None:
            recorder.seconds = 0.0
        recorded_step(recorder)
        synchronize(device)
        if recorder is not None:
            own_work.append(recorder.seconds)
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory() as folder:
        recorder = GradientRecorder(model, every=args.every)
        writer = RunWriter(Path(folder) / "bench.resviz", model_spec=model.resviz_spec,
                           config={"benchmark": "recorder"}, layer_ids=recorder.layer_ids,
                           block_ids=recorder.block_ids, device=str(device))
        recorder.sink = lambda steps: writer.add_steps(steps.to_step_batch())
        recorder.clock = writer.elapsed
        print(f"recorder overhead: {args.model}, batch {args.batch_size}, {device_label(device)}, "
              f"{len(recorder.layer_ids)} layers, {len(recorder.block_ids)} blocks, every {args.every}")
        timed: dict[bool, list[float]] = {False: [], True: []}
        try:
            timed_step(None)       # first-use costs (allocator, kernels) paid outside the timing,
            timed_step(recorder)   # and the recorder's first step (its weight snapshot) too
            own_work.clear()
            for index in range(2 * args.steps):
                with_recorder = index % 4 in (1, 2)  # ABBA: neither side always goes first
                timed[with_recorder].append(timed_step(recorder if with_recorder else None))
                if index % 4 == 3:
                    print(f"  steps {index - 2}-{index + 1}: without {timed[False][-1]:.4f} s, "
                          f"with {timed[True][-1]:.4f} s", flush=True)
            if device.type == "cuda":
                steps = recorder.flush_every + 10
                syncs = {side: host_syncs_per_step(lambda: recorded_step(recorder if side else None), steps)
                         for side in (False, True)}
        finally:
            recorder.close()
            writer.finish()
    report(timed[True], timed[False], "with recorder", "without recorder",
           TARGET_CPU if device.type == "cpu" else None)
    if device.type == "cpu":
        share = statistics.median(own_work) / statistics.median(timed[False])
        print(f"recorder's own work, timed directly: median {statistics.median(own_work) * 1e3:.1f} ms/step, "
              f"{share:.2%} of a step without it (ratio {1 + share:.3f})")
    if device.type == "cuda":
        print(f"host syncs per step: with recorder {syncs[True]:.2f}, without {syncs[False]:.2f} "
              f"({steps} steps each, CUDA sync debug mode)")
    if args.compile:
        compiled_row(model, x, y, backend=args.compile, steps=args.steps, every=args.every, device=device)
    if args.lightning:
        from .lightning_callback import compare

        compare(model, x, y, args, device)
    return 0


def host_syncs_per_step(step: Callable[[], None], steps: int) -> float:
    """How often ``step`` makes the host wait for the GPU, per call, as CUDA's sync debug mode reports it."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                step()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    torch.cuda.synchronize()
    return sum("synchronizing" in str(w.message) for w in caught) / steps


def _timed_recorder_class():
    """A GradientRecorder that adds up the wall time of its own hooks and ``step()`` in ``seconds``."""
    from ..train.recorder import GradientRecorder

    class TimedRecorder(GradientRecorder):
        seconds = 0.0

        def _timed(self, function):
            def timed(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start
            return timed

        def _make_forward_hook(self, index):
            return self._timed(super()._make_forward_hook(index))

        def _make_gradient_hook(self, index):
            return self._timed(super()._make_gradient_hook(index))

        def step(self, *args, **kwargs):
            return self._timed(super().step)(*args, **kwargs)

    return TimedRecorder
