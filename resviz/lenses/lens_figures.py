"""Figure files of the signal and paths lenses, drawn headless through ``resviz.figures``
(plain nets warm, residual nets cool)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..figures import COLOURS, new_figure, save_figure
from .paths import PathDecomposition
from .signal import SIDES, SignalAtDepth

TINY = 1e-30  # log axes: a gradient that vanished entirely is drawn at the floor, not dropped


def _per_block(axes, result: SignalAtDepth, measure: str, ylabel: str) -> None:
    for side in SIDES:
        profile = result.side(side)
        values = np.clip(getattr(profile, measure), TINY, None)
        axes.semilogy(np.arange(1, len(values) + 1), values, "o-", markersize=2.5, linewidth=1.5,
                      color=COLOURS[side], label=side)
    axes.set_xlabel("block (input → output)")
    axes.set_ylabel(ylabel)
    axes.set_title(f"{ylabel} per block, depth {result.depth}", fontsize=11)
    axes.grid(True, alpha=0.3, which="both")
    axes.legend(fontsize=9)


def draw_signal(results: Sequence[SignalAtDepth], path: str | Path, title: str | None = None) -> Path:
    """Four panels: forward and backward norms per block at the deepest depth, the input gradient's
    norm against depth (log scale) and the gradient correlation of neighbouring inputs."""
    figure, axes = new_figure(4, width=4.6, height=3.8)
    deepest = max(results, key=lambda r: r.depth)
    _per_block(axes[0], deepest, "forward_norms", "activation norm")
    _per_block(axes[1], deepest, "backward_norms", "gradient norm")
    depths = [r.depth for r in results]
    for side in SIDES:
        profiles = [r.side(side) for r in results]
        axes[2].semilogy(depths, np.clip([p.input_gradient_norm for p in profiles], TINY, None), "o-",
                         color=COLOURS[side], label=side)
        axes[3].plot(depths, [p.gradient_correlation for p in profiles], "o-", color=COLOURS[side], label=side)
    axes[2].set_title("gradient norm at the input", fontsize=11)
    axes[2].set_ylabel("‖∂loss/∂x‖")
    axes[3].set_title("shattering: gradient correlation\nof neighbouring inputs", fontsize=11)
    axes[3].set_ylabel("autocorrelation at lag 1")
    axes[3].set_ylim(-1.05, 1.05)
    axes[3].axhline(0.0, color=COLOURS["other"], linewidth=0.8)
    for panel in axes[2:]:
        panel.set_xlabel("depth")
        panel.grid(True, alpha=0.3, which="both")
        panel.legend(fontsize=9)
    family = results[0].family
    return save_figure(figure, path, title or f"Signal propagation at initialisation: {family}, plain vs residual")


def draw_paths(decomposition: PathDecomposition, path: str | Path, title: str) -> Path:
    """Veit et al.'s three panels: paths by length, gradient magnitude per path, share of the gradient."""
    figure, axes = new_figure(3, width=4.6, height=3.8)
    lengths = np.arange(decomposition.n + 1)
    colour = COLOURS["residual"]
    axes[0].bar(lengths, decomposition.distribution, color=colour)
    axes[0].set_title("distribution of path lengths", fontsize=11)
    axes[0].set_ylabel("share of paths")
    axes[1].semilogy(lengths, np.clip(decomposition.magnitude, TINY, None), "o-", color=colour)
    axes[1].set_title("gradient magnitude per path", fontsize=11)
    axes[1].set_ylabel("mean ‖∂loss/∂x‖ of one path")
    axes[2].bar(lengths, decomposition.share, color=colour)
    axes[2].axvline(decomposition.n / 2, color=COLOURS["other"], linestyle="--", linewidth=1, label="n/2")
    axes[2].set_title(f"share of the gradient (peak at length {decomposition.peak_length})", fontsize=11)
    axes[2].set_ylabel("share of total gradient magnitude")
    axes[2].legend(fontsize=9)
    for panel in axes:
        panel.set_xlabel(f"path length (of {decomposition.n} blocks)")
        panel.grid(True, alpha=0.3, which="both")
    return save_figure(figure, path, title)
