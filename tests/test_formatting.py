"""Counts and shapes are written one way (resviz/formatting.py) on the command line, in the
exports and in the window."""

from __future__ import annotations

from resviz.commands.models import run as models_run
from resviz.formatting import format_count, format_full_shape, format_shape
from resviz.graph import blocks
from resviz.models import model_info
from resviz.views import architecture_details


def test_counts_get_one_unit_and_a_fixed_number_of_digits():
    assert [format_count(v) for v in (0, 999, 1000, 272_512, 853_018, 1_234_567, 4.1e9)] == \
        ["0", "999", "1.0K", "272.5K", "853.0K", "1.23M", "4.10G"]
    assert format_count(None) == "–"
    assert format_count(0.5) == "0.5"


def test_shapes_leave_out_the_batch_and_join_several_outputs():
    assert format_shape((1, 16, 32, 32)) == "16×32×32"
    assert format_shape((10,)) == "10"
    assert format_shape([(1, 4), (1, 8), (1, 2)]) == "4 | 8 | 2"
    assert format_shape([(1, 4), (1, 8), (1, 2)], max_outputs=2) == "4 | 8 | …"
    assert format_shape(None) == "–"
    assert format_full_shape((1, 64, 32, 32)) == "(1, 64, 32, 32)"
    assert format_full_shape(("N", 3)) == "(N, 3)"


def test_the_box_label_and_the_window_details_say_the_same_count():
    # The box (graph/blocks.py) and the window's details table show one number one way.
    assert architecture_details.format_count is format_count
    assert blocks.format_count is format_count


def test_the_models_table_uses_the_shared_count(capsys):
    import argparse

    models_run(argparse.Namespace(family="cifar-resnet", json=False))
    row = next(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("resnet20 "))
    assert row[3] == format_count(model_info("resnet20").parameters) == "269.7K"
