"""Synthetic runs (numpy only): what a plain and a residual net record, for benchmarks and tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def synthetic_columns(steps: int, layers: int, blocks: int, *, residual: bool, first_step: int = 1,
                      seed: int = 0, nonfinite_at: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
    """Step columns shaped like ``StepBatch``: a residual net's gradients stay level with depth, a
    plain net's fall by orders of magnitude towards the input, and the loss falls over time."""
    rng = np.random.default_rng(seed)
    step = np.arange(first_step, first_step + steps, dtype=np.int64)
    progress = np.linspace(0.0, 1.0, steps, dtype=np.float64)[:, None]
    depth = np.linspace(0.0, 1.0, max(layers, 1), dtype=np.float64)[None, :layers]
    if residual:
        log_grad = -1.2 - 0.3 * depth - 0.5 * progress
    else:
        log_grad = -1.0 - 5.0 * (1.0 - depth) * (0.6 + 0.4 * progress) - 0.3 * progress
    log_grad = log_grad + 0.15 * rng.standard_normal((steps, layers))
    grad = (10.0 ** log_grad).astype(np.float32)
    loss = (2.0 * np.exp(-3.0 * progress[:, 0] * (1.5 if residual else 0.7)) + 0.1
            + 0.05 * rng.standard_normal(steps))
    acc = np.clip(1.0 - loss / 2.2 + 0.03 * rng.standard_normal(steps), 0.0, 1.0)
    block_depth = np.linspace(0.0, 1.0, max(blocks, 1))[None, :blocks]
    act = 10.0 ** ((-2.0 if residual else -2.0 - 4.0 * (1.0 - block_depth)) + 0.1 * rng.standard_normal((steps, blocks)))
    ratio = 10.0 ** (-3.0 + (0.0 if residual else -2.0 * (1.0 - depth)) + 0.2 * rng.standard_normal((steps, layers)))
    nonfinite = np.zeros(steps, bool)
    for at in nonfinite_at:
        row = at - first_step
        if 0 <= row < steps:
            nonfinite[row] = True
            grad[row, layers // 2] = np.inf
            loss[row] = np.nan
    return dict(step=step, epoch=(step - first_step) // max(1, steps // 4), time=0.01 * (step - first_step), loss=loss, acc=acc,
                lr=np.full(steps, 0.1), grad_norm=grad, weight_norm=np.ones((steps, layers), np.float32),
                update_ratio=ratio.astype(np.float32), act_grad_norm=act.astype(np.float32),
                dead_relu=np.zeros((steps, blocks), np.float32), nonfinite=nonfinite)


def write_synthetic_run(path: str | Path, *, steps: int = 200, layers: int = 19, blocks: int = 9,
                        residual: bool = True, classes: int = 6, eval_every: int = 50, seed: int = 0,
                        status: str = "finished", error: str | None = None, nonfinite_at: tuple[int, ...] = (),
                        model: str | None = None, twin: str | Path | None = None) -> Path:
    """A complete run file of synthetic steps, evaluations and events (for tests and benchmarks)."""
    from ..models import ModelSpec
    from ..runfile import EvalRecord, RunWriter, StepBatch

    path = Path(path)
    layer_ids = ["conv1"] + [f"layer{1 + i // 6}.{(i % 6) // 2}.conv{1 + i % 2}" for i in range(max(0, layers - 2))]
    layer_ids = (layer_ids + ["fc"])[:layers]
    block_ids = [f"layer{1 + i // 3}.{i % 3}" for i in range(blocks)]
    name = model or ("resnet20" if residual else "plain20")
    class_names = [f"class{i}" for i in range(classes)]
    columns = synthetic_columns(steps, layers, blocks, residual=residual, seed=seed, nonfinite_at=nonfinite_at)
    with RunWriter(path, model_spec=ModelSpec(name, {}), config={"dataset": "shapes", "steps": steps},
                   layer_ids=layer_ids, block_ids=block_ids, classes=class_names,
                   twin=str(twin) if twin is not None else None) as writer:
        writer.add_steps(StepBatch(**columns))
        rng = np.random.default_rng(seed + 1)
        for at in range(eval_every, steps + 1, eval_every):
            quality = at / steps * (0.9 if residual else 0.5)
            confusion = rng.integers(0, 5, (classes, classes)) + np.diag(np.full(classes, int(60 * quality) + 5))
            precision = np.diag(confusion) / confusion.sum(axis=0)
            recall = np.diag(confusion) / confusion.sum(axis=1)
            writer.add_eval(EvalRecord(step=at, epoch=at // eval_every, split="val",
                                       loss=float(columns["loss"][at - 1]) + 0.1,
                                       acc=float(np.trace(confusion) / confusion.sum()), confusion=confusion,
                                       precision=precision, recall=recall))
        for at in nonfinite_at:
            writer.add_event(at, "nonfinite", f"non-finite gradient at step {at}", layer=layer_ids[layers // 2])
        writer.finish(status, error)
    return path
