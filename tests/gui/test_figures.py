"""The training view's figures, drawn from synthetic runs: what they show, replay, theme, export."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from resviz.errors import ResvizError
from resviz.gui.figures import (
    BlockGradientFigure,
    ConfusionFigure,
    DepthProfileFigure,
    GradientFlowFigure,
    LossAccuracyFigure,
    UpdateRatioFigure,
)
from resviz.gui.theme import PRESENTATION
from resviz.runfile import EvalRecord, StepBatch
from resviz.views.run_comparison import RunComparison

from gui_support import make_batch, make_info, write_trainer_like_run


@pytest.fixture
def twins():
    comparison = RunComparison(max_columns=128)
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
    comparison = RunComparison()
    info = make_info("n", "resnet20", layers=3)
    info.layer_ids = ["conv1", "bn1", "fc"]
    from resviz.views.run_data import weight_layer_mask

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
    comparison = RunComparison()
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


# -- true numbers -----------------------------------------------------------------------------


def comparison_of(*paths) -> RunComparison:
    """What the run feed hands the window for these run files, read in one go."""
    from resviz.runfile import RunReader

    comparison = RunComparison(max_columns=128)
    for path in paths:
        with RunReader(path) as reader:
            comparison.add(reader.info())
            comparison.append_steps(path, reader.read_steps())
            comparison.set_records(path, reader.evals(), reader.events())
    return comparison


def shown_evaluation(figure: ConfusionFigure) -> str:
    return figure._matrices[0].plot.titleLabel.text


@pytest.mark.parametrize("status", [None, "finished"], ids=["live", "finished"])
def test_the_last_evaluation_is_what_the_confusion_matrix_shows_at_the_last_step(qtbot, tmp_path, status):
    # Steps 0..140, evaluated after 47, 94 and 141 steps (accuracy 10%, 20%, 30%).
    written = write_trainer_like_run(tmp_path / "run.resviz", status=status)
    comparison = comparison_of(tmp_path / "run.resviz")
    figure = show(qtbot, ConfusionFigure())
    assert comparison.timeline.following and comparison.step == 140
    figure.refresh(comparison.frame())
    assert "accuracy 30.0% · step 141" in shown_evaluation(figure)
    timeline = comparison.timeline
    timeline.play()  # a replay from the first step to the last
    timeline.advance(1e6)
    assert not timeline.following and timeline.step == 140
    figure.refresh(comparison.frame())
    assert "accuracy 30.0% · step 141" in shown_evaluation(figure)
    timeline.seek(93)  # the last step the second evaluation saw
    figure.refresh(comparison.frame())
    assert "accuracy 20.0% · step 94" in shown_evaluation(figure)
    timeline.seek(92)
    figure.refresh(comparison.frame())
    assert "accuracy 10.0% · step 47" in shown_evaluation(figure)
    curves = show(qtbot, LossAccuracyFigure())
    timeline.seek(140)
    curves.refresh(comparison.frame())
    assert list(curves._items[str(tmp_path / "run.resviz")].val_acc.xData) == [47.0, 94.0, 141.0]
    if status is None:
        written.finish("finished")


def test_a_one_epoch_run_shows_its_evaluation(qtbot, tmp_path):
    write_trainer_like_run(tmp_path / "one.resviz", steps=47, eval_steps=(47,))
    figure = show(qtbot, ConfusionFigure())
    figure.refresh(comparison_of(tmp_path / "one.resviz").frame())
    assert not figure.message.isVisible()
    assert "accuracy 10.0% · step 47" in shown_evaluation(figure)


def test_the_legend_says_how_each_run_ended(qtbot, tmp_path):
    write_trainer_like_run(tmp_path / "r.resviz", status="finished")
    write_trainer_like_run(tmp_path / "p.resviz", status="stopped", steps=60, eval_steps=(47,))
    comparison = comparison_of(tmp_path / "r.resviz", tmp_path / "p.resviz")
    figure = show(qtbot, LossAccuracyFigure())
    figure.refresh(comparison.frame())
    assert "(finished)" in figure.title_label.text and "(stopped)" in figure.title_label.text


# -- the loss axis ----------------------------------------------------------------------------


def loss_run(loss: np.ndarray, eval_losses: dict[int, float]) -> RunComparison:
    comparison = RunComparison(max_columns=128)
    run = comparison.add(make_info("l"))
    batch = make_batch(0, len(loss))
    batch.loss[:] = loss
    comparison.append_steps(run.path, batch)
    confusion = np.eye(2, dtype=np.int64)
    comparison.set_records(run.path, [EvalRecord(step=s, epoch=0, split="test", loss=v, acc=0.5, confusion=confusion,
                                                 precision=np.ones(2), recall=np.ones(2))
                                      for s, v in eval_losses.items()], [])
    return comparison


def bulk_loss(n: int = 2000, seed: int = 0) -> np.ndarray:
    """A training loss falling from ln 10 towards 0.3, with noise."""
    rng = np.random.default_rng(seed)
    return 2.0 * np.exp(-np.linspace(0, 4, n)) + 0.3 + 0.05 * rng.standard_normal(n)


def test_one_outlier_cannot_flatten_the_loss_plot(qtbot):
    loss = bulk_loss()
    comparison = loss_run(loss, {500: 0.9, 1000: 0.7, 1500: 61.0, 1999: 0.5})  # one test loss of 61
    figure = show(qtbot, LossAccuracyFigure())
    figure.refresh(comparison.frame())
    low, high = figure.loss_plot.vb.viewRange()[1]
    assert high < 2 * loss.max() and low <= loss.min()  # the axis spans the bulk, not 0-61
    assert high >= loss.max()  # every training loss stays on show, the first (highest) ones too
    items = next(iter(figure._items.values()))
    assert list(items.clipped_high.data["x"]) == [1500.0]  # the outlier is marked at the top edge
    assert low <= items.clipped_high.data["y"][0] <= high
    assert figure.outlier_note.toPlainText() == "▲ 1 point above (61)"


def test_a_training_loss_spike_is_marked_and_a_clean_series_is_shown_whole(qtbot):
    loss = bulk_loss()
    loss[700] = 1e4
    figure = show(qtbot, LossAccuracyFigure())
    figure.refresh(loss_run(loss, {}).frame())
    assert figure.loss_plot.vb.viewRange()[1][1] < 10
    assert list(next(iter(figure._items.values())).clipped_high.data["x"]) == [700.0]
    clean = show(qtbot, LossAccuracyFigure())
    clean.refresh(loss_run(bulk_loss(seed=1), {1000: 2.0}).frame())  # a high test loss is data, not an outlier
    low, high = clean.loss_plot.vb.viewRange()[1]
    assert high >= 2.0 and clean.outlier_note.toPlainText() == ""
    assert len(next(iter(clean._items.values())).clipped_high.data) == 0


def test_zooming_the_loss_axis_by_hand_is_kept_until_auto(qtbot):
    figure = show(qtbot, LossAccuracyFigure())
    comparison = loss_run(bulk_loss(), {1500: 61.0})
    figure.refresh(comparison.frame())
    figure.loss_plot.vb.sigRangeChangedManually.emit([True, True])  # what a drag or a wheel turn sends
    figure.loss_plot.setYRange(0, 100, padding=0)
    comparison.revision += 1
    figure.refresh(comparison.frame())
    assert figure.loss_plot.vb.viewRange()[1] == [0, 100]
    figure.loss_plot.autoBtn.clicked.emit(figure.loss_plot.autoBtn)  # the "A" button
    figure.refresh(comparison.frame())
    assert figure.loss_plot.vb.viewRange()[1][1] < 10
