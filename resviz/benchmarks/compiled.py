"""The compiled row of ``resviz bench recorder``: the same loop under ``torch.compile``, with and without the recorder.

Two copies of the model, each compiled once with the same backend (one with the recorder's hooks
attached for good, so neither ever recompiles), train on the same batch in ABBA order. The
compilation is paid in warm-up steps outside the timing; the graph breaks and compiled frames
of each side are counted by Dynamo and printed beside the ratio.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")


def compiled_row(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, backend: str, steps: int, every: int,
                 device: torch.device) -> float:
    """Time the compiled loop with and without the recorder; print the row and return the ratio."""
    from torch._dynamo.testing import CompileCounterWithBackend
    from torch._dynamo.utils import counters

    from ..runfile import RunWriter
    from ..train.device import synchronize
    from ..train.recorder import GradientRecorder
    from .trainer import report

    sides = {}
    for watched in (False, True):
        copy_ = copy.deepcopy(model)
        counter = CompileCounterWithBackend(backend)
        sides[watched] = (copy_, torch.compile(copy_, backend=counter), counter,
                          torch.optim.SGD(copy_.parameters(), lr=0.01, momentum=0.9))
    counters.clear()
    with tempfile.TemporaryDirectory() as folder:
        recorder = GradientRecorder(sides[True][0], every=every)
        writer = RunWriter(Path(folder) / "compiled.resviz", model_spec=getattr(model, "resviz_spec", None),
                           config={"benchmark": "recorder", "compile": backend}, layer_ids=recorder.layer_ids,
                           block_ids=recorder.block_ids, device=str(device))
        recorder.sink = lambda rows: writer.add_steps(rows.to_step_batch())
        recorder.clock = writer.elapsed
        recorder.attach()

        def timed_step(watched: bool) -> float:
            _, forward, _, optimizer = sides[watched]
            synchronize(device)
            start = time.perf_counter()
            out = forward(x)
            loss = F.cross_entropy(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if watched:
                recorder.step(loss=loss, acc=(out.argmax(1) == y).float().mean(), lr=0.01)
            optimizer.step()
            synchronize(device)
            return time.perf_counter() - start

        timed: dict[bool, list[float]] = {False: [], True: []}
        try:
            start = time.perf_counter()
            for watched in (False, True, False, True):  # compilation (forward and backward) outside the timing
                timed_step(watched)
            print(f"compiled ({backend}): compilation and warm-up {time.perf_counter() - start:.1f} s", flush=True)
            for index in range(2 * steps):
                watched = index % 4 in (1, 2)  # ABBA
                timed[watched].append(timed_step(watched))
        finally:
            recorder.close()
            writer.finish()
    breaks = sum(counters["graph_break"].values())
    print(f"compiled frames: with recorder {sides[True][2].frame_count}, without {sides[False][2].frame_count}; "
          f"graph breaks {breaks}")
    return report(timed[True], timed[False], f"compiled ({backend}) with recorder",
                  f"compiled ({backend}) without recorder", None)
