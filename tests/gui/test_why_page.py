"""The Why it trains page: each lens computes on tiny twin runs and shows plain and residual,
Cancel stops, stored results replay without recomputing, a click on a block in the graphs
deletes it from both twins and rescores them, a lens can be enlarged, and the depth slider
answers from its cache."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from resviz.gui.why_page import WhyPage
from resviz.gui.workers_tasks import running_tasks
from resviz.runfile import open_run
from resviz.views import why_it_trains as why
from resviz.views.run_comparison import RunComparison
from resviz.views.why_it_trains import WhyItTrains
from tests.views.why_support import write_twins

WAIT_MS = 60000


@pytest.fixture
def twins(tmp_path):
    return write_twins(tmp_path)


@pytest.fixture(autouse=True)
def small_budgets(monkeypatch):
    monkeypatch.setattr(why, "LANDSCAPE_SAMPLES", 8)
    monkeypatch.setattr(why, "LESION_SAMPLES", 12)
    monkeypatch.setattr(why, "LESION_DRAWS", 1)
    monkeypatch.setattr(why, "PATHS_BATCH", 2)
    monkeypatch.setattr(why, "PATHS_SAMPLES", 1)


def tiny_model() -> WhyItTrains:
    model = WhyItTrains()
    model.signal_options = {"width": 4, "input_size": 8}
    model.depths = (8, 14, 20)
    model.depth = 8
    model.landscape_grid = 3
    return model


@pytest.fixture
def page(qtbot, twins):
    comparison = RunComparison()
    for side in ("plain", "residual"):
        with open_run(twins[side]) as reader:
            comparison.add(reader.info())
    page = WhyPage(comparison, tiny_model())
    qtbot.addWidget(page)
    page.resize(1200, 800)
    page.show()
    qtbot.waitExposed(page)
    yield page
    page.shutdown()
    assert running_tasks() == []


def wait_idle(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT_MS)


def test_signal_slider_uses_the_cache(qtbot, page):
    panel = page.signal
    wait_idle(qtbot, panel)   # showing the page computed the whole depth curve
    assert page.model.cached_depths() == [8, 14, 20]
    xs, _ = panel.depth_curves["residual"].getData()   # (a plain net's norm may underflow to 0: not drawn)
    assert list(xs) == [8, 14, 20]
    xs, _ = panel.depth_curves["plain"].getData()
    assert list(xs) == [d for d in (8, 14, 20) if page.model.signal_at(d).plain.input_gradient_norm > 0]
    panel.set_depth(20)
    assert not panel.is_busy()       # cached: redrawn at once, no worker
    assert panel.depth_label.text() == "20 layers"
    xs, _ = panel.block_curves["residual"].getData()
    assert len(xs) == len(page.model.signal_at(20).residual.backward_norms)


def test_signal_slider_computes_a_depth_not_yet_seen(qtbot, page, monkeypatch):
    monkeypatch.setattr(why, "QUICK_DEPTH", 14)
    page.signal.shutdown()
    page.model.signal_cache.clear()
    page.model.depths = (8, 14, 20, 26)
    page.signal.set_depths()
    assert page.signal.compute()
    wait_idle(qtbot, page.signal)
    assert page.model.cached_depths() == [8, 14]
    page.signal.set_depth(26)
    assert page.signal.is_busy()          # not cached: a worker computes it
    wait_idle(qtbot, page.signal)
    assert page.model.cached_depths() == [8, 14, 26]
    xs, _ = page.signal.depth_curves["residual"].getData()   # (a plain net's norm may underflow to 0)
    assert list(xs) == [8, 14, 26]


def test_landscape_computes_both_sides_on_one_scale_and_replays(qtbot, page, twins):
    panel = page.landscape
    assert panel.compute()
    wait_idle(qtbot, panel)
    low, high = page.model.landscape_scale()
    for side in ("plain", "residual"):
        image = panel.images[side]
        assert image.image.shape == (3, 3) and tuple(image.levels) == (low, high)
    assert tuple(panel.colour_bar.levels()) == pytest.approx((low, high))
    stored = {side: open_run(twins[side]).lens_results("landscape") for side in twins}
    assert all(len(results) == 1 for results in stored.values())
    replay = WhyPage(page.comparison, tiny_model())
    qtbot.addWidget(replay)
    replay.show()
    assert "landscape" in replay.model.replayed and not replay.landscape.is_busy()
    np.testing.assert_array_equal(replay.landscape.images["plain"].image, panel.images["plain"].image)
    replay.shutdown()


def test_landscape_cancel_stops_and_stores_nothing(qtbot, page, twins):
    panel = page.landscape
    page.model.landscape_grid = 31
    assert panel.compute()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=WAIT_MS)
    panel.cancel()
    assert not panel.is_busy() and panel.status.text() == "Cancelled."
    page.shutdown()
    assert not open_run(twins["residual"]).lens_results("landscape")


def test_lesion_and_clicking_a_block_in_the_graph_deletes_it_from_both_twins(qtbot, page):
    from resviz.colours import MARKED_FILL

    panel = page.lesion
    assert panel.architecture.isHidden()                      # no graphs before a study
    assert panel.compute()
    wait_idle(qtbot, panel)
    for side in ("plain", "residual"):
        study = page.model.lesions[side]
        assert len(panel.bars[side].opts["height"]) == len(study.blocks) > 0
    views = panel.graph_views
    assert not panel.architecture.isHidden() and not any(v.isHidden() for v in views.values())
    qtbot.waitUntil(lambda: all(v.model.layout is not None and not v.is_busy() for v in views.values()),
                    timeout=WAIT_MS)
    block = page.model.lesion_blocks("residual")[0]
    assert block in page.model.lesion_blocks("plain")            # the twins share their block names
    box = views["residual"].model.visible_node_for(block)
    assert box is not None
    rect = views["residual"].graph_scene.node_rect(box)
    canvas = views["residual"].canvas
    views["residual"].fit()
    qtbot.wait(50)
    point = canvas.mapFromScene(rect.center())
    qtbot.mouseClick(canvas.viewport(), Qt.LeftButton, pos=point)   # a click on the block's box
    wait_idle(qtbot, panel)
    assert page.model.deleted == {"plain": {block}, "residual": {block}}
    for side in ("plain", "residual"):                # the same net on the same images as the study
        assert page.model.deleted_accuracy[side] == pytest.approx(page.model.lesions[side].single[0])
        assert f"without {block}" in panel.accuracy_labels[side].text()
        view = views[side]
        assert view.graph_scene.node_brush(view.model.visible_node_for(block)).name().upper() == MARKED_FILL
    panel.click_block(block)                          # again: back in both
    wait_idle(qtbot, panel)
    assert page.model.deleted == {"plain": set(), "residual": set()}
    assert views["residual"].graph_scene.node_brush(box).name().upper() != MARKED_FILL
    assert "with every block" in panel.accuracy_labels["residual"].text()


def test_a_replayed_lesion_draws_its_blocks_to_click(qtbot, twins):
    from resviz.views.why_it_trains import WhyRun

    first = WhyItTrains()
    first.set_runs([WhyRun(twins[s], s, s) for s in ("plain", "residual")])
    for run in first.runs.values():
        why.compute_lesion(run, samples=12)
    comparison = RunComparison()
    for side in ("plain", "residual"):
        with open_run(twins[side]) as reader:
            comparison.add(reader.info())
    page = WhyPage(comparison, tiny_model())
    qtbot.addWidget(page)
    page.show()
    qtbot.waitExposed(page)
    try:
        assert "lesion" in page.model.replayed
        views = page.lesion.graph_views
        qtbot.waitUntil(lambda: all(v.model.layout is not None for v in views.values()), timeout=WAIT_MS)
        wait_idle(qtbot, page.lesion)
        block = page.model.lesion_blocks("plain")[-1]
        page.lesion.click_block(block)
        wait_idle(qtbot, page.lesion)
        assert page.model.deleted_accuracy["plain"] == pytest.approx(page.model.lesions["plain"].single[-1])
    finally:
        page.shutdown()


def test_enlarge_shows_one_lens_alone_and_brings_the_four_back(qtbot, page):
    page.lesion.enlarge_button.click()
    assert page.enlarged == "lesion" and page.lesion.isVisible()
    assert not any(panel.isVisible() for panel in page.panels if panel is not page.lesion)
    assert page.lesion.enlarge_button.text() == "All four lenses"
    page.lesion.enlarge_button.click()
    assert page.enlarged is None and all(panel.isVisible() for panel in page.panels)
    assert page.lesion.enlarge_button.text() == "Enlarge"


def test_paths_shows_share_and_binomial(qtbot, page, twins):
    panel = page.paths
    assert panel.compute()
    wait_idle(qtbot, panel)
    share = page.model.paths["residual"]
    assert len(panel.bars.opts["height"]) == len(share.share) == len(share.blocks) + 1
    _, ys = panel.binomial.getData()
    np.testing.assert_allclose(ys.sum(), 1.0)
    assert open_run(twins["residual"]).lens_results("paths")


def test_the_window_has_the_page_exports_it_and_themes_it(make_window, tmp_path):
    from resviz.gui.theme import PRESENTATION

    window = make_window(tab="why")
    assert window.tabs.currentWidget() is window.why
    slugs = [slug for _, slug in window.export_targets()]
    assert {"why_signal", "why_landscape", "why_lesion", "why_paths"} <= set(slugs)
    (saved,) = window.export_figure("why_paths", tmp_path / "paths.png")
    assert saved.stat().st_size > 0
    window.why.apply_theme(PRESENTATION)
    assert window.why.landscape.graphics.backgroundBrush().color().name() == PRESENTATION.background.lower()
