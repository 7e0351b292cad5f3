"""Lesion studies drawn for a figure file (Veit et al. 2016, Fig. 3): the accuracy with each
block deleted alone, and against the number of blocks deleted at random, per model on one axis."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..figures import COLOURS, new_figure, save_figure
from .lesion import LesionStudy


def draw_lesions(studies: Sequence[tuple[str, LesionStudy, str]], path: str | Path, title: str) -> Path:
    """``studies``: (label, study, role) per model, role a key of ``COLOURS`` ("plain", "residual")."""
    figure, (single_axes, random_axes) = new_figure(2, width=5.6, height=4.2)
    chance = min(study.chance for _, study, _ in studies)
    for label, study, role in studies:
        colour = COLOURS.get(role, COLOURS["other"])
        positions = range(1, len(study.blocks) + 1)
        single_axes.plot(positions, study.single, marker="o", color=colour, label=label)
        single_axes.axhline(study.baseline, color=colour, linestyle=":", linewidth=1)
        mean = study.random.mean(axis=1)
        spread = study.random.std(axis=1)
        random_axes.plot(study.ks, mean, marker="o", color=colour, label=label)
        random_axes.fill_between(study.ks, mean - spread, mean + spread, color=colour, alpha=0.2)
    for axes in (single_axes, random_axes):
        axes.axhline(chance, color=COLOURS["other"], linestyle="--", linewidth=1, label="chance")
        axes.set_ylim(0, 1.02)
        axes.set_ylabel("test accuracy")
        axes.legend(fontsize=8)
    longest = max(studies, key=lambda entry: len(entry[1].blocks))[1]
    single_axes.set_xticks(range(1, len(longest.blocks) + 1))
    single_axes.set_xticklabels(longest.blocks, rotation=90, fontsize=7)
    single_axes.set_title("one block deleted (dotted: none deleted)", fontsize=10)
    random_axes.set_xlabel("blocks deleted at random (k)")
    random_axes.set_title(f"k blocks deleted: mean and spread over {longest.draws} draws", fontsize=10)
    return save_figure(figure, path, title)
