"""Figures drawn headless with matplotlib's Agg canvas, for the command line's figure files (the
presets' and the lenses'): one figure layout and one colour per role, so plain nets are warm and
residual nets cool in every figure resviz writes."""

from __future__ import annotations

from pathlib import Path

# One colour per role, the same in every figure: plain nets warm, residual nets cool.
COLOURS = {"plain": "#d6604d", "plain-deep": "#8c1d18", "residual": "#4393c3", "residual-deep": "#0b3d6b",
           "other": "#7f7f7f"}


def new_figure(columns: int, *, width: float = 5.2, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * columns, height), dpi=100, facecolor="white", layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, columns, squeeze=False)[0]


def save_figure(figure, path: str | Path, title: str) -> Path:
    from .files import save_figure_png

    figure.suptitle(title, fontsize=13)
    return save_figure_png(figure, path, dpi=110)
