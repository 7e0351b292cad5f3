"""The presets' figures: curves and depth profiles drawn headless with matplotlib's Agg canvas."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..figures import COLOURS, new_figure, save_figure

__all__ = ["COLOURS", "new_figure", "plot_confusion", "plot_curves", "plot_depth_profile", "save_figure"]

def plot_curves(axes, curves: Sequence[tuple[str, np.ndarray, np.ndarray, str]], *, title: str, xlabel: str,
                ylabel: str, log: bool = False, percent: bool = False, styles: Sequence[str] | None = None) -> None:
    """``curves``: (label, x, y, colour role) each; ``styles`` a line style per curve."""
    for index, (label, x, y, role) in enumerate(curves):
        style = styles[index] if styles else "-"
        y = np.asarray(y, dtype=np.float64) * (100.0 if percent else 1.0)
        axes.plot(x, y, style, color=COLOURS.get(role, COLOURS["other"]), label=label, linewidth=1.8)
    if log:
        axes.set_yscale("log")
    if xlabel in ("epoch", "step", "layer"):
        from matplotlib.ticker import MaxNLocator

        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(title, fontsize=11)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel + (" (%)" if percent else ""))
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=9)


def plot_depth_profile(axes, profiles: Sequence[tuple[str, np.ndarray, str]], *, title: str) -> None:
    """Median gradient norm per layer, input side on the left, log scale: where the gradient dies."""
    for label, values, role in profiles:
        axes.semilogy(np.arange(len(values)), np.clip(values, 1e-30, None), "o-", markersize=3,
                      color=COLOURS.get(role, COLOURS["other"]), label=label, linewidth=1.5)
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(title, fontsize=11)
    axes.set_xlabel("layer (input → output)")
    axes.set_ylabel("gradient norm (median over steps)")
    axes.grid(True, alpha=0.3, which="both")
    axes.legend(fontsize=9)


def plot_confusion(axes, matrix: np.ndarray, classes: Sequence[str], precision: np.ndarray,
                   recall: np.ndarray, *, title: str) -> None:
    k = len(classes)
    axes.imshow(matrix, cmap="Blues")
    for i in range(k):
        for j in range(k):
            value = int(matrix[i, j])
            colour = "white" if value > matrix.max() * 0.6 else "black"
            axes.text(j, i, str(value), ha="center", va="center", color=colour, fontsize=9)
    axes.set_xticks(range(k), [f"{c}\nP {p:.0%}" if np.isfinite(p) else f"{c}\nP –"
                               for c, p in zip(classes, precision)], fontsize=8)
    axes.set_yticks(range(k), [f"{c}  R {r:.0%}" if np.isfinite(r) else f"{c}  R –"
                               for c, r in zip(classes, recall)], fontsize=8)
    axes.set_xlabel("predicted (P: precision)")
    axes.set_ylabel("true (R: recall)")
    axes.set_title(title, fontsize=11)
