"""Tiny twin run files with one checkpoint each, for the Why it trains page's tests."""

from __future__ import annotations

from pathlib import Path

import torch

from resviz.data import SHAPE_CLASSES
from resviz.models import ModelSpec, get_model

TINY = {"depth": 8, "width": 4, "input_size": 8, "num_classes": 6}


def write_twins(folder: Path) -> dict[str, Path]:
    """A plain and a residual run of the tiny twins on shapes, naming each other, one checkpoint each."""
    from resviz.runfile import RunWriter

    paths = {side: folder / f"tiny-{side}.resviz" for side in ("plain", "residual")}
    config = {"dataset": "shapes", "train_samples": 40, "test_samples": 24, "data_seed": 0, "normalize": True,
              "resolved": {"input_shape": [3, 8, 8]}}
    for side, name in (("plain", "plain20"), ("residual", "resnet20")):
        other = paths["residual" if side == "plain" else "plain"]
        writer = RunWriter(paths[side], model_spec=ModelSpec(name, dict(TINY)), config=config, layer_ids=[],
                           block_ids=[], classes=SHAPE_CLASSES, twin=str(other))
        torch.manual_seed(0)
        writer.add_checkpoint(5, 0, get_model(name, **TINY).state_dict())
        writer.finish()
    return paths
