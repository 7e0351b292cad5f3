"""The loss landscape drawn for a figure file: per model a contour map and a surface, side by
side with one shared colour scale, and the 1-D slices of all of them on one axis. Losses are
drawn on a log scale: far from the checkpoint they grow by orders of magnitude, and a linear
scale would leave the basin around it one flat colour."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..colours import GRADIENT_COLORMAP
from ..figures import COLOURS, new_figure, save_figure
from .landscape import Landscape

CONTOUR_LEVELS = 20


def _log_loss(values: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(np.asarray(values, dtype=np.float64), 1e-12))


def shared_scale(landscapes: Sequence[Landscape]) -> tuple[float, float]:
    """One colour scale (log10 of the loss) for all surfaces: from the lowest loss to the 95th
    percentile of all of them (a chaotic surface's spikes would otherwise flatten every contour)."""
    values = np.concatenate([np.ravel(_log_loss(l.loss if l.loss is not None else l.loss_1d)) for l in landscapes])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(np.percentile(values, 95))
    return low, high if high > low else low + 1.0


def draw_landscapes(landscapes: Sequence[tuple[str, Landscape, str]], path: str | Path, title: str) -> Path:
    """``landscapes``: (label, landscape, role) per model, role a key of ``COLOURS`` ("plain", "residual")."""
    two_d = [entry for entry in landscapes if entry[1].loss is not None]
    figure, axes = new_figure(2 * len(two_d) + 1, width=4.4, height=4.0)
    low, high = shared_scale([landscape for _, landscape, _ in landscapes])
    levels = np.linspace(low, high, CONTOUR_LEVELS)
    for index, (label, landscape, _) in enumerate(two_d):
        surface = np.clip(np.nan_to_num(_log_loss(landscape.loss), nan=high, posinf=high), low, high)
        contour_axes = axes[2 * index]
        filled = contour_axes.contourf(landscape.alphas, landscape.betas, surface, levels=levels,
                                       cmap=GRADIENT_COLORMAP, extend="max")
        contour_axes.contour(landscape.alphas, landscape.betas, surface, levels=levels, colors="white",
                             linewidths=0.4, alpha=0.6)
        contour_axes.plot([0], [0], marker="+", color="white", markersize=10)
        contour_axes.set_title(f"{label}\nroughness {landscape.roughness:.2f} bumps per line", fontsize=10)
        contour_axes.set_xlabel("direction 1")
        contour_axes.set_ylabel("direction 2")
        contour_axes.set_aspect("equal")
        position = axes[2 * index + 1].get_subplotspec()
        axes[2 * index + 1].remove()
        surface_axes = figure.add_subplot(position, projection="3d")
        grid_a, grid_b = np.meshgrid(landscape.alphas, landscape.betas)
        surface_axes.plot_surface(grid_a, grid_b, surface, cmap=GRADIENT_COLORMAP, vmin=low, vmax=high,
                                  linewidth=0, antialiased=True)
        surface_axes.set_zlim(low, high)
        surface_axes.set_title(f"{label}: surface", fontsize=10)
        surface_axes.set_xlabel("direction 1")
        surface_axes.set_ylabel("direction 2")
        surface_axes.set_zlabel("log10 loss")
    if two_d:
        figure.colorbar(filled, ax=[axes[2 * i] for i in range(len(two_d))], shrink=0.8, label="log10 loss")
    line_axes = axes[-1]
    for label, landscape, role in landscapes:
        line_axes.plot(landscape.alphas, _log_loss(landscape.loss_1d), color=COLOURS.get(role, COLOURS["other"]), label=label)
    line_axes.set_ylim(low, high + 0.05 * (high - low))
    line_axes.set_xlabel("direction 1")
    line_axes.set_ylabel("log10 loss")
    line_axes.set_title("1-D slices", fontsize=10)
    line_axes.legend(fontsize=8)
    return save_figure(figure, path, title)
