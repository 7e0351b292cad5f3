"""The seeds' experiments from the window's Run menu."""

from pathlib import Path

from resviz.benchmarks.synthetic import write_synthetic_run
from resviz.gui.preset_runner import PresetRunner, run_files_in
from resviz.presets import list_presets


def test_the_run_menu_offers_every_preset_and_their_runs_open_side_by_side(qtbot, make_window, tmp_path):
    window = make_window()
    names = [action.text().split(":")[0] for action in window.preset_actions]
    assert names == [preset.name for preset in list_presets()]
    residual, plain = tmp_path / "vanishing-residual.resviz", tmp_path / "vanishing-plain.resviz"
    write_synthetic_run(residual, steps=50, residual=True, twin=plain)
    write_synthetic_run(plain, steps=50, residual=False, twin=residual)
    # What the child prints when it ends: the numbers, the claims and the run files.
    window._preset_finished("vanishing", 0, "[yes] a claim\nrun file (plain20): x", [str(plain), str(residual)])
    qtbot.waitUntil(lambda: len(window.comparison) == 2, timeout=20_000)
    assert "[yes] a claim" in window.last_preset_report.text()
    assert all(action.isEnabled() for action in window.preset_actions)


def test_the_runner_reports_what_the_child_printed(qtbot, tmp_path):
    runner = PresetRunner()
    with qtbot.waitSignal(runner.preset_finished, timeout=60_000) as finished:
        runner.start("no-such-preset", tmp_path)
    name, code, text, paths = finished.args
    assert (name, code, paths) == ("no-such-preset", 2, [])
    assert "unknown preset 'no-such-preset'" in text
    assert run_files_in("x\nrun file (plain20): runs/a-plain.resviz\nrun file (resnet20): runs/a b.resviz\n") == [
        Path("runs/a-plain.resviz"), Path("runs/a b.resviz")]
