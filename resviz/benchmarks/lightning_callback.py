"""The Lightning row of ``resviz bench recorder --lightning``: what ``ResvizCallback`` costs a
Lightning training step.

The same model, batch and optimizer train in short ``Trainer.fit`` runs that alternate, in ABBA
order, between a trainer with the callback and one without; a timing callback measures each
training step (``on_train_batch_start`` to ``on_train_batch_end``), the first of each fit left
out (the trainer's and the recorder's first-use costs). The result is the ratio of the step
times, as for the recorder alone.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..errors import ResvizError

FITS_PER_SIDE = 2


def compare(model: nn.Module, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace,
            device: torch.device) -> float:
    """Time ``model`` in Lightning with and without ``ResvizCallback``; print both and the ratio."""
    try:
        import lightning.pytorch as L
    except ImportError:
        raise ResvizError("--lightning needs the lightning package, which is not installed "
                          "(pip install lightning)") from None
    from ..integrations.lightning import ResvizCallback
    from ..train.device import synchronize
    from .trainer import report

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            inputs, targets = batch
            return F.cross_entropy(self.net(inputs), targets)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)

    class StepTimer(L.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_batch_start(self, *unused: Any) -> None:
            synchronize(device)
            self.start = time.perf_counter()

        def on_train_batch_end(self, *unused: Any) -> None:
            synchronize(device)
            self.times.append(time.perf_counter() - self.start)

    module = Module()
    batches = DataLoader([(x, y)] * (max(args.steps // FITS_PER_SIDE, 1) + 1), batch_size=None)
    timed: dict[bool, list[float]] = {False: [], True: []}
    print(f"Lightning {L.__version__}: {len(batches) - 1} timed steps per fit, {FITS_PER_SIDE} fits per side")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banner per fit
    with tempfile.TemporaryDirectory() as folder:
        for index in range(2 * FITS_PER_SIDE):
            with_callback = index % 4 in (1, 2)  # ABBA
            timer = StepTimer()
            callbacks: list[Any] = [timer]
            if with_callback:
                callbacks.append(ResvizCallback(run=Path(folder) / "bench.resviz", overwrite=True,
                                                every=args.every, config={"benchmark": "recorder --lightning"}))
            trainer = L.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, max_epochs=1,
                                logger=False, enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, default_root_dir=folder, callbacks=callbacks)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Lightning's advice about workers and loggers
                trainer.fit(module, batches)
            timed[with_callback].extend(timer.times[1:])
    return report(timed[True], timed[False], "Lightning with ResvizCallback", "Lightning without resviz", None)
