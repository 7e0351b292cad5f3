"""The training view's figures, drawn from synthetic runs: what they show, replay, theme, export."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from resviz.errors import ResvizError
from resviz.gui.comparison import Comparison
from resviz.gui.figures import (BlockGradientFigure, ConfusionFigure, DepthProfileFigure, GradientFlowFigure,
                                LossAccuracyFigure, UpdateRatioFigure)
from resviz.gui.theme import PRESENTATION
from resviz.train.store import EvalRecord, StepBatch

from gui_support import make_batch, make_info


@pytest.fixture
def twins():
    comparison = Comparison(max_columns=128)
    residual = comparison.add(make_info("r", "resnet20", layers=6, blocks=3))
    plain = comparison.add(make_info("p", "plain20", layers=6, blocks=3))
    comparison.append_steps(residual.path, make_batch(1, 3000, 6, 3))
    batch = make_batch(1, 3000, 6, 3, residual=False, nonfinite_at=(2222,))
    batch.grad_norm[1500, 2] = 1e4  # a one-step spike in the plain net's third layer
    comparison.append_steps(plain.path, batch)
    confusion = np.array([[8, 2], [1, 9]])
    for run in (residual, plain):
        run.evals = [EvalRecord(step=1000, epoch=0, split="val", loss=0.5, acc=0.85, confusion=confusion,
                                precision=np.array([8 / 9, 9 / 11]), recall=np.array([0.8, 0.9]))]
    comparison.revision += 1
    return comparison, residual, plain


def show(qtbot, figure, size=(900, 500)):
    qtbot.addWidget(figure)
    figure.resize(*size)
    figure.show()
    return figure


def test_heatmap_is_max_pooled_to_its_width_on_the_shared_levels(qtbot, twins):
    comparison, residual, plain = twins
    figure = show(qtbot, GradientFlowFigure())
    frame = comparison.frame()
    assert figure.refresh(frame) and not figure.refresh(frame)  # an unchanged frame is not redrawn
    images = {key: items.image for key, items in figure._items.items()}
    plain_image = images[str(plain.path)].image
    assert plain_image.shape[0] <= 128 and plain_image.shape[1] == 6
    assert plain_image.dtype == np.float32 and plain_image.flags.c_contiguous
    assert np.isclose(plain_image.max(), 30.0)  # the non-finite step stays at the top of the scale
    spike_column = 1500 // plain.heat.bin
    assert plain_image[spike_column, 2] == pytest.approx(4.0)  # log10(1e4): the spike survives pooling
    for image in images.values():
        assert tuple(image.levels) == frame.levels  # explicit levels, the same for both runs
        assert image.lut.shape == (256, 3)
    assert figure.colour_bar.levels() == pytest.approx(frame.levels)
    markers = figure._items[str(plain.path)].markers
    assert list(markers.data["x"]) == [2222.0]


def test_heatmap_replay_shows_the_steps_up_to_the_scrubbed_one(qtbot, twins):
    comparison, residual, plain = twins
    figure = show(qtbot, GradientFlowFigure())
    comparison.timeline.seek(600)
    figure.refresh(comparison.frame())
    items = figure._items[str(residual.path)]
    columns = items.image.image.shape[0]
    assert columns == int(np.ceil(600 / residual.heat.bin))
    assert items.cursor.isVisible() and items.cursor.value() == 600
    x_range = items.plot.getViewBox().viewRange()[0]
    assert x_range[0] <= 1 and x_range[1] >= 3000  # the frame is the whole run; the image grows into it
    comparison.timeline.follow_latest()
    figure.refresh(comparison.frame())
    assert not items.cursor.isVisible()


def test_dragging_the_colour_bar_locks_the_levels_for_every_run(qtbot, twins):
    comparison, *_ = twins
    figure = show(qtbot, GradientFlowFigure(on_levels_chosen=comparison.levels.lock))
    figure.refresh(comparison.frame())
    figure.colour_bar.setLevels((-5.0, -1.0))
    figure.colour_bar.sigLevelsChangeFinished.emit(figure.colour_bar)
    assert comparison.levels.locked and comparison.levels.levels == (-5.0, -1.0)
    figure.refresh(comparison.frame())
    assert all(tuple(items.image.levels) == (-5.0, -1.0) for items in figure._items.values())


def test_profiles_show_each_layer_at_the_shown_step(qtbot, twins):
    comparison, residual, plain = twins
    comparison.timeline.seek(1234)
    frame = comparison.frame()
    depth = show(qtbot, DepthProfileFigure())
    depth.refresh(frame)
    curve = depth._items[str(plain.path)].curve
    np.testing.assert_allclose(curve.yData, plain.grad_norm.data[1233].astype(np.float64), rtol=1e-6)
    np.testing.assert_array_equal(curve.xData, np.arange(1, 7))
    assert "1,234" in depth.title_label.text
    blocks = show(qtbot, BlockGradientFigure())
    blocks.refresh(frame)
    np.testing.assert_allclose(blocks._items[str(residual.path)].curve.yData,
                               residual.act_grad_norm.data[1233].astype(np.float64), rtol=1e-6)
    ratio = show(qtbot, UpdateRatioFigure())
    ratio.refresh(frame)
    assert ratio.guide is not None and ratio.guide.value() == pytest.approx(-3.0)  # the 1e-3 guide, log axis


def test_curves_mark_non_finite_steps_and_evaluations(qtbot, twins):
    comparison, residual, plain = twins
    figure = show(qtbot, LossAccuracyFigure())
    figure.refresh(comparison.frame())
    items = figure._items[str(plain.path)]
    assert len(items.loss.xData) == 3000
    assert list(items.nonfinite.data["x"]) == [2222.0]
    assert list(items.val_acc.xData) == [1000.0] and list(items.val_acc.yData) == [0.85]
    assert residual.style.label in figure.title_label.text and plain.style.label in figure.title_label.text
    comparison.timeline.seek(500)  # before the evaluation and the non-finite step
    figure.refresh(comparison.frame())
    assert len(items.loss.xData) == 500 and items.val_acc.xData is None and len(items.nonfinite.data) == 0


def test_confusion_matrix_shows_counts_recall_and_precision(qtbot, twins):
    comparison, residual, plain = twins
    figure = show(qtbot, ConfusionFigure())
    figure.refresh(comparison.frame())
    texts = figure._matrices[0].labels.texts()
    # row by row: the counts, then the row's recall and the column's precision; then the headers
    assert texts == ["8", "2", "80%", "89%", "1", "9", "90%", "82%", "recall", "precision"]
    assert figure._matrices[1].plot.isVisible()
    comparison.timeline.seek(10)  # no evaluation yet at step 10
    figure.refresh(comparison.frame())
    assert figure.message.isVisible() and not figure._matrices[1].plot.isVisible()


def test_weight_layers_only_hide_norm_layers():
    comparison = Comparison()
    info = make_info("n", "resnet20", layers=3)
    info.layer_ids = ["conv1", "bn1", "fc"]
    from resviz.gui.run_data import weight_layer_mask

    mask = weight_layer_mask(info)
    assert list(mask) == [True, False, True]
    run = comparison.add(info, mask)
    assert list(run.shown_layers(True)) == [0, 2] and list(run.shown_layers(False)) == [0, 1, 2]


def test_export_png_at_a_chosen_size_and_svg(qtbot, twins, tmp_path):
    comparison, *_ = twins
    figure = show(qtbot, GradientFlowFigure())
    figure.refresh(comparison.frame())
    path = figure.export_image(tmp_path / "flow.png", (1920, 1080))
    image = QImage(str(path))
    assert (image.width(), image.height()) == (1920, 1080)
    colours = {image.pixelColor(x, y).name() for x in range(0, 1920, 37) for y in range(0, 1080, 37)}
    assert len(colours) > 20  # a picture, not a blank page
    assert (figure.width(), figure.height()) == (900, 500)  # the window's figure is left as it was
    svg = figure.export_image(tmp_path / "flow.svg", (1200, 700))
    assert svg.read_text(encoding="utf-8").lstrip().startswith(("<?xml", "<svg"))
    with pytest.raises(ResvizError, match="gif"):
        figure.export_image(tmp_path / "flow.gif")
    with pytest.raises(ResvizError, match="16 to 16384"):
        figure.export_image(tmp_path / "tiny.png", (4, 4))


def test_presentation_theme_restyles_in_place(qtbot, twins):
    comparison, *_ = twins
    figure = show(qtbot, DepthProfileFigure())
    figure.refresh(comparison.frame())
    items_before = list(figure._items.values())
    figure.apply_theme(PRESENTATION)
    figure.refresh(comparison.frame())
    assert list(figure._items.values()) == items_before  # the same items, re-styled
    assert figure.backgroundBrush().color().name() == "#000000"
    assert figure.plot.getAxis("bottom").style["tickFont"].pointSizeF() == PRESENTATION.font_size
    curve = items_before[0].curve
    assert curve.opts["pen"].widthF() == PRESENTATION.line_width


def test_step_batches_of_other_widths_are_refused():
    comparison = Comparison()
    run = comparison.add(make_info("w", layers=4))
    with pytest.raises(ValueError):
        run.append(StepBatch(**{**make_batch(1, 5, 4, 3).__dict__, "grad_norm": np.ones((5, 3), np.float32),
                                "weight_norm": np.ones((5, 3), np.float32),
                                "update_ratio": np.ones((5, 3), np.float32)}))


def test_profiles_range_follows_the_data(qtbot, twins):
    comparison, residual, plain = twins
    depth = show(qtbot, DepthProfileFigure())
    depth.refresh(comparison.frame())
    qtbot.wait(50)  # pyqtgraph fits the range when it next paints
    depth.plot.getViewBox().updateAutoRange()
    low, high = depth.plot.getViewBox().viewRange()[1]
    values = np.log10(plain.grad_norm.data[2999][plain.weight_layers])
    assert low <= values.min() and high >= np.log10(residual.grad_norm.data[2999]).max()
