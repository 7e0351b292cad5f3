"""Synthetic run records and step batches for the tests of what the window shows (no Qt)."""

from __future__ import annotations

from pathlib import Path

from resviz.benchmarks.synthetic import synthetic_columns
from resviz.models import ModelSpec
from resviz.runfile import RunInfo, StepBatch


def make_info(name: str = "run", model: str = "resnet20", layers: int = 5, blocks: int = 3) -> RunInfo:
    return RunInfo(path=Path(f"/tmp/{name}.resviz"), name=name, schema_version=1, model_spec=ModelSpec(model, {}),
                   config={}, device="cpu", layer_ids=[f"l{i}" for i in range(layers)],
                   block_ids=[f"b{i}" for i in range(blocks)], classes=["a", "b"], status="running", error=None,
                   created=0.0, updated=0.0, twin=None)


def make_batch(first: int, n: int, layers: int = 5, blocks: int = 3, *, residual: bool = True, **kw) -> StepBatch:
    return StepBatch(**synthetic_columns(n, layers, blocks, residual=residual, first_step=first, **kw))
