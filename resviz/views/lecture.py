"""What the lecture page says in words: the caption under its figures.

The caption names the compared runs and the step shown, and puts the picture's point in one
number per run: how much of the gradient at the last layer still reaches the first one. A
plain network's first layers get orders of magnitude less; its residual twin's about as much.
"""

from __future__ import annotations

import math

from .run_comparison import RunComparison
from .run_data import RunData

EMPTY_CAPTION = "Press Train twins: a residual net and its plain twin train from the same seed"


def reach(run: RunData, step: int, weights_only: bool = True) -> float | None:
    """The first layer's gradient norm over the last layer's at ``step`` (None without data or
    when either is zero or not finite)."""
    row = run.row_at(step)
    layers = run.weight_layers if weights_only else run.all_layers
    if row is None or len(layers) < 2:
        return None
    first, last = (float(run.grad_norm.data[row][layers[i]]) for i in (0, -1))
    if not (math.isfinite(first) and math.isfinite(last)) or first <= 0.0 or last <= 0.0:
        return None
    return first / last


def format_reach(ratio: float) -> str:
    """0.0021 -> "1/480", 0.5 -> "1/2", 3.2 -> "3.2×", 2e-8 -> "1/50M": a fraction a hall reads at a glance."""
    if ratio >= 1.0:
        return f"{ratio:.2g}×"
    inverse = float(f"{1.0 / ratio:.2g}")  # two significant digits
    for unit, size in (("G", 1e9), ("M", 1e6)):
        if inverse >= size:
            return f"1/{inverse / size:g}{unit}"
    return f"1/{inverse:,.0f}" if inverse >= 10 else f"1/{inverse:g}"


def short_name(run: RunData) -> str:
    """The run's model name without its options ("resnet20"), else its label: a caption's room is short."""
    spec = run.info.model_spec
    return spec.name if spec is not None and spec.name else run.style.label


def lecture_caption(comparison: RunComparison) -> str:
    """One line: the runs, the step and each run's gradient reach (first layer / last layer)."""
    runs = comparison.ordered
    if not runs or not any(len(run) for run in runs):
        return EMPTY_CAPTION
    step = comparison.step
    parts = []
    for run in runs:
        ratio = reach(run, step, comparison.weights_only)
        if ratio is not None:
            parts.append(f"{short_name(run)} {format_reach(ratio)}")
    text = f"step {step:,}"
    if parts:
        text += " · first layer's gradient / last layer's: " + " · ".join(parts)
    return text
