"""One owner for colours (resviz/colours.py): colour maps, gradient colours and the label rule
that the command line's exports and the window both use."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from resviz.colours import (
    DARK_TEXT,
    LIGHT_TEXT,
    NONFINITE_FILL,
    contrast,
    get_colormap,
    gradient_colour,
    gradient_lut,
    hex_colour,
    text_colour_on,
)
from resviz.errors import ResvizError
from resviz.graph import block_graph, layout_graph, trace_graph
from resviz.graph.draw import MUTED, TEXT, build_scene
from resviz.graph.types import SceneText
from resviz.models import get_model


def test_the_gradient_colours_are_the_viridis_table():
    table = get_colormap("viridis")
    assert gradient_lut() is table
    assert gradient_colour(1e-6, (-6.0, 0.0)) == hex_colour(table[0]) == "#440154"
    assert gradient_colour(1.0, (-6.0, 0.0)) == hex_colour(table[-1]) == "#FDE725"
    assert np.array_equal(gradient_lut(64)[[0, -1]], table[[0, -1]])
    assert gradient_colour(float("nan"), (-6.0, 0.0)) == NONFINITE_FILL
    with pytest.raises(ResvizError, match="unknown colour map 'virdis' \\(did you mean viridis"):
        get_colormap("virdis")


def test_a_label_keeps_its_colour_where_it_reads_and_turns_light_or_dark_where_not():
    assert text_colour_on("#FFFFFF", DARK_TEXT) == DARK_TEXT
    assert text_colour_on("#440154", DARK_TEXT) == LIGHT_TEXT
    assert text_colour_on("#FDE725", DARK_TEXT) == DARK_TEXT
    for rgb in get_colormap("viridis")[::8]:
        fill = hex_colour(rgb)
        for colour in (TEXT, MUTED):
            chosen = text_colour_on(fill, colour)
            # the chosen colour is the original when that reads (WCAG AA), else the best of light and dark
            assert chosen == colour if contrast(fill, colour) >= 4.5 else \
                contrast(fill, chosen) == max(contrast(fill, LIGHT_TEXT), contrast(fill, DARK_TEXT))


@pytest.fixture(scope="module")
def resnet20_blocks():
    with torch.device("meta"):
        model = get_model("resnet20")
    return layout_graph(block_graph(trace_graph(model), "blocks"))


def test_the_command_lines_export_colours_labels_by_the_shared_rule(resnet20_blocks):
    node = next(n.id for n in resnet20_blocks.nodes.values() if n.info.get("detail"))
    for rgb in get_colormap("viridis")[::16]:
        fill = hex_colour(rgb)
        scene = build_scene(resnet20_blocks, node_colours={node: fill})
        labels = [t for t in scene.items if isinstance(t, SceneText) and t.id == node]
        assert [t.colour for t in labels] == [text_colour_on(fill, TEXT), text_colour_on(fill, MUTED)]
