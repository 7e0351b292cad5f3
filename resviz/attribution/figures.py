"""Figures for screens and projectors, drawn headless with matplotlib's Agg canvas (no pyplot,
no window, no global state), saved as PNG.

Panels are laid out on a fixed grid in inches, so labels never overlap whatever the number of
rows and columns; pixels are drawn as blocks (nearest) so a 32x32 input stays honest.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..colours import get_colormap
from ..errors import ResvizError
from .compare import AttributionComparison
from .render import DEFAULT_COLORMAPS, OVERLAY_COLORMAPS, as_rgb, normalize, overlay

TITLE_SIZE = 13
LABEL_SIZE = 10
SMALL_SIZE = 8.5
INK = "#222222"
MUTED = "#666666"
SIGN_LEGENDS = {
    "all": ("negative", "0", "positive"),
    "positive": ("0", "", "strongest positive"),
    "absolute": ("0", "", "largest magnitude"),
    "negative": ("0", "", "strongest negative"),
}


def _figure(width: float, height: float, dpi: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi, facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: str | Path, dpi: int) -> Path:
    from ..files import save_figure_png

    return save_figure_png(figure, path, dpi)


def figure_to_array(figure) -> np.ndarray:
    """The drawn figure as (H, W, 3) uint8, e.g. for a window to show."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def _image_axes(figure, left: float, bottom: float, size: float, width: float, height: float):
    axes = figure.add_axes((left / width, bottom / height, size / width, size / height))
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_color("#bbbbbb")
        spine.set_linewidth(0.6)
    return axes


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False)) or text


def _text_width(texts: Sequence[str], size: float) -> float:
    """A generous estimate of the widest line's width in inches (DejaVu Sans averages ~0.6 em)."""
    longest = max((len(line) for text in texts for line in text.splitlines()), default=0)
    return longest * size * 0.62 / 72.0


SIGN_TITLES = {"all": "signed", "positive": "positive evidence", "absolute": "magnitude", "negative": "negative evidence"}


def _legend(figure, signs: dict[str, list[str]], overlay_mode: bool, left: float, bottom: float, width: float,
            height: float, bar_width: float = 2.6) -> None:
    """A small colour bar per sign shown, titled with the columns drawn in it, words at its ends."""
    x = left
    for sign, columns in signs.items():
        table = get_colormap((OVERLAY_COLORMAPS if overlay_mode else DEFAULT_COLORMAPS)[sign])
        axes = figure.add_axes((x / width, bottom / height, bar_width / width, 0.14 / height))
        axes.imshow(table[None], aspect="auto", interpolation="bilinear")
        axes.set_xticks([])
        axes.set_yticks([])
        low, middle, high = SIGN_LEGENDS[sign]
        for position, text, align in ((0.0, low, "left"), (0.5, middle, "center"), (1.0, high, "right")):
            axes.text(position, -0.35, text, transform=axes.transAxes, ha=align, va="top", fontsize=SMALL_SIZE,
                      color=MUTED)
        names = ", ".join(columns) if len(signs) > 1 else "all maps"
        axes.text(0.0, 1.35, _wrap(f"{names}: {SIGN_TITLES[sign]}", int(bar_width * 14)), transform=axes.transAxes,
                  ha="left", va="bottom", fontsize=SMALL_SIZE, color=INK)
        x += bar_width + 0.7


def comparison_figure(comparison: AttributionComparison, *, overlay_mode: bool = True, clip_percentile: float = 1.0,
                      alpha: float = 0.75, cell: float | None = None, dpi: int = 150, subtitle: str = "",
                      show_inputs: bool = True):
    """The comparison as a matplotlib Figure: the inputs in the first column, then one column per
    method, model or checkpoint; row labels on the left; a colour legend below."""
    rows, columns = comparison.shape
    if rows == 0 or columns == 0:
        raise ResvizError("the comparison is empty")
    if cell is None:  # few columns get bigger panels
        cell = 2.3 if columns <= 3 else (2.0 if columns <= 5 else 1.75)
    captions = [[panel.caption for panel in row] for row in comparison.panels]
    # Captions shared by a whole row (the prediction in a methods grid) move into the row label.
    row_captions = [row[0] if comparison.kind == "methods" and len(set(row)) == 1 else "" for row in captions]
    cell_captions = any(not shared and any(row) for shared, row in zip(row_captions, captions))
    gap = 0.12
    caption_h = 0.28 if cell_captions else 0.0
    row_texts = [label + (f"\n{shared}" if shared else "") for label, shared in zip(comparison.row_labels, row_captions)]
    left_margin = max(0.6, 0.3 + _text_width(row_texts, LABEL_SIZE))
    top_margin = 0.95 if subtitle else 0.75
    header = 0.5
    bottom_margin = 1.3
    n_cols = columns + (1 if show_inputs else 0)
    width = left_margin + n_cols * cell + (n_cols - 1) * gap + 0.25
    height = top_margin + header + rows * (cell + caption_h) + (rows - 1) * gap + bottom_margin
    figure = _figure(width, height, dpi)
    figure.text(0.5, 1 - 0.3 / height, comparison.title, ha="center", va="center", fontsize=TITLE_SIZE,
                fontweight="bold", color=INK)
    if subtitle:
        figure.text(0.5, 1 - 0.62 / height, subtitle, ha="center", va="center", fontsize=LABEL_SIZE, color=MUTED)
    headers = (["input"] if show_inputs else []) + list(comparison.column_labels)
    top_of_grid = height - top_margin - header
    for c, label in enumerate(headers):
        x = left_margin + c * (cell + gap) + cell / 2
        figure.text(x / width, (top_of_grid + 0.08) / height, _wrap(label, int(cell * 9)), ha="center", va="bottom",
                    fontsize=LABEL_SIZE, fontweight="bold", color=INK)
    for r in range(rows):
        bottom = top_of_grid - (r + 1) * cell - r * (gap + caption_h)
        label = row_texts[r]
        figure.text((left_margin - 0.12) / width, (bottom + cell / 2) / height, label, ha="right", va="center",
                    fontsize=LABEL_SIZE, color=INK, linespacing=1.4)
        c0 = 0
        if show_inputs:
            axes = _image_axes(figure, left_margin, bottom, cell, width, height)
            axes.imshow(as_rgb(comparison.inputs[r]), interpolation="nearest")
            c0 = 1
        for c, panel in enumerate(comparison.panels[r]):
            left = left_margin + (c + c0) * (cell + gap)
            axes = _image_axes(figure, left, bottom, cell, width, height)
            picture = panel.picture(clip_percentile=clip_percentile, alpha=alpha, overlay=overlay_mode)
            axes.imshow(picture, interpolation="nearest")
            if cell_captions and panel.caption and not row_captions[r]:
                figure.text((left + cell / 2) / width, (bottom - 0.05) / height, panel.caption, ha="center",
                            va="top", fontsize=SMALL_SIZE, color=MUTED)
    signs: dict[str, list[str]] = {}
    for column, label in enumerate(comparison.column_labels):
        for sign in dict.fromkeys(row[column].sign for row in comparison.panels):
            signs.setdefault(sign, []).append(label.split(" (")[0])
    _legend(figure, signs, overlay_mode, left_margin, 0.42, width, height)
    return figure


def save_comparison(comparison: AttributionComparison, path: str | Path, *, dpi: int = 150, **options) -> Path:
    """Draw ``comparison`` (options as ``comparison_figure``) and save it as a PNG."""
    return _save(comparison_figure(comparison, dpi=dpi, **options), path, dpi)


def randomisation_figure(result, inputs: Sequence[np.ndarray], *, overlay_mode: bool = False, sign: str = "absolute",
                         clip_percentile: float = 1.0, cell: float = 1.25, dpi: int = 150, subtitle: str = "",
                         row_names: Sequence[str] | None = None):
    """Maps as the layers are randomised from the top (columns) for each input (rows), and the
    rank correlation with the original map per step below."""
    steps = len(result.steps)
    rows = result.maps.shape[1]
    gap = 0.08
    left_margin = 0.9
    top_margin = 0.95 if subtitle else 0.75
    header = 0.55
    plot_h = 2.3
    n_cols = steps + 1
    width = max(left_margin + n_cols * cell + (n_cols - 1) * gap + 0.3, 7.5)
    height = top_margin + header + rows * cell + (rows - 1) * gap + 0.5 + plot_h + 1.0
    figure = _figure(width, height, dpi)
    figure.text(0.5, 1 - 0.3 / height, f"Cascading randomisation test: {result.title}"
                + (f" ({result.layer})" if result.layer else ""), ha="center", va="center", fontsize=TITLE_SIZE,
                fontweight="bold", color=INK)
    if subtitle:
        figure.text(0.5, 1 - 0.62 / height, subtitle, ha="center", va="center", fontsize=LABEL_SIZE, color=MUTED)
    top_of_grid = height - top_margin - header
    labels = ["input", "original"] + [f"\u2192 {step}" for step in result.steps[1:]]
    for c, label in enumerate(labels):
        x = left_margin + c * (cell + gap) + cell / 2
        figure.text(x / width, (top_of_grid + 0.06) / height, _wrap(label, int(cell * 8)), ha="center", va="bottom",
                    fontsize=SMALL_SIZE, fontweight="bold", color=INK, rotation=0)
    for r in range(rows):
        bottom = top_of_grid - (r + 1) * cell - r * gap
        name = row_names[r] if row_names is not None else f"#{r}"
        figure.text((left_margin - 0.1) / width, (bottom + cell / 2) / height, name, ha="right", va="center",
                    fontsize=LABEL_SIZE, color=INK)
        axes = _image_axes(figure, left_margin, bottom, cell, width, height)
        axes.imshow(as_rgb(inputs[r]), interpolation="nearest")
        for s in range(steps):
            axes = _image_axes(figure, left_margin + (s + 1) * (cell + gap), bottom, cell, width, height)
            values = normalize(result.maps[s, r], sign, clip_percentile)
            if overlay_mode:
                picture = overlay(inputs[r], values, sign)
            else:
                picture = get_colormap(DEFAULT_COLORMAPS[sign])[np.clip(
                    np.round(((values + 1) / 2 if sign == "all" else values) * 255), 0, 255).astype(int)]
            axes.imshow(picture, interpolation="nearest")
    plot_bottom = 1.0
    axes = figure.add_axes((left_margin / width, plot_bottom / height, (width - left_margin - 0.4) / width,
                            plot_h / height))
    x = np.arange(1, steps)
    for scores, label, colour, style in ((result.spearman_abs, "Spearman |map|", "#c0392b", "-"),
                                         (result.spearman_signed, "Spearman signed map", "#2471a3", "--")):
        mean = scores.mean(1)
        axes.plot(x, mean, marker="o", color=colour, label=label, linewidth=1.8, linestyle=style)
        if scores.shape[1] > 1:
            axes.fill_between(x, scores.min(1), scores.max(1), color=colour, alpha=0.15, linewidth=0)
    axes.axhline(0.0, color="#999999", linewidth=0.8)
    axes.set_xlim(0.5, steps - 0.5)
    axes.set_ylim(-0.5, 1.05)
    axes.set_xticks(x)
    axes.set_xticklabels(result.steps[1:], rotation=35, ha="right", fontsize=SMALL_SIZE)
    axes.set_ylabel("rank correlation\nwith original", fontsize=LABEL_SIZE)
    axes.set_xlabel("randomised from the output down to", fontsize=LABEL_SIZE, labelpad=2)
    axes.tick_params(labelsize=SMALL_SIZE)
    axes.grid(axis="y", color="#e5e5e5")
    axes.legend(fontsize=SMALL_SIZE, loc="upper right", frameon=False)
    for spine in ("top", "right"):
        axes.spines[spine].set_visible(False)
    return figure


def save_randomisation(result, inputs: Sequence[np.ndarray], path: str | Path, *, dpi: int = 150, **options) -> Path:
    return _save(randomisation_figure(result, inputs, dpi=dpi, **options), path, dpi)


def localisation_figure(report, inputs: Sequence[np.ndarray], *, count: int = 8, class_names: Sequence[str] | None = None,
                        cell: float = 1.6, dpi: int = 150, clip_percentile: float = 1.0):
    """A few inputs with their map, the mask outlined and the map's maximum marked (green on the
    object, red off it), under the scores."""
    from .compare import class_label

    count = min(count, len(inputs))
    if count == 0:
        raise ResvizError("no input to draw")
    columns = min(count, 8)
    rows = int(np.ceil(count / columns))
    gap = 0.12
    caption_h = 0.3
    width = max(0.3 + columns * (cell + gap), 6.5)
    height = 1.15 + rows * (cell + caption_h + gap) + 0.05
    figure = _figure(width, height, dpi)
    scores = report.scores
    figure.text(0.5, 1 - 0.3 / height, f"Localisation on ground-truth masks: {report.title}"
                + (f" ({report.layer})" if report.layer else ""), ha="center", va="center", fontsize=TITLE_SIZE,
                fontweight="bold", color=INK)
    figure.text(0.5, 1 - 0.68 / height,
                f"pointing game {scores.pointing_accuracy:.0%}   energy in mask {scores.mean_energy:.0%} "
                f"(a uniform map: {scores.mean_mask_fraction:.0%})   n = {scores.pointing_hits.size}"
                + (f"   tolerance {scores.tolerance} px" if scores.tolerance else ""),
                ha="center", va="center", fontsize=LABEL_SIZE, color=MUTED)
    for i in range(count):
        r, c = divmod(i, columns)
        left = 0.15 + c * (cell + gap)
        bottom = height - 1.0 - (r + 1) * cell - r * (caption_h + gap)
        axes = _image_axes(figure, left, bottom, cell, width, height)
        values = normalize(report.maps[i], scores.sign, clip_percentile)
        axes.imshow(overlay(inputs[i], values, scores.sign), interpolation="nearest")
        axes.contour(report.masks[i].astype(float), levels=[0.5], colors=["#00c8ff"], linewidths=1.0)
        value = np.asarray(report.maps[i], dtype=np.float64)
        if scores.sign == "negative":
            value = -value
        elif scores.sign == "absolute":
            value = np.abs(value)
        y, x = np.unravel_index(int(np.argmax(value)), value.shape)
        hit = bool(scores.pointing_hits[i])
        axes.plot([x], [y], marker="x", markersize=9, markeredgewidth=2.2, color="#1e8449" if hit else "#c0392b")
        axes.set_xlim(-0.5, value.shape[1] - 0.5)
        axes.set_ylim(value.shape[0] - 0.5, -0.5)
        energy = scores.energy[i]
        text = f"{class_label(int(report.target[i]), class_names)}: {'hit' if hit else 'miss'}, " + (
            f"{energy:.0%} in mask" if np.isfinite(energy) else "no evidence")
        figure.text((left + cell / 2) / width, (bottom - 0.05) / height, text, ha="center", va="top",
                    fontsize=SMALL_SIZE, color=MUTED)
    return figure


def save_localisation(report, inputs: Sequence[np.ndarray], path: str | Path, *, dpi: int = 150, **options) -> Path:
    return _save(localisation_figure(report, inputs, dpi=dpi, **options), path, dpi)
