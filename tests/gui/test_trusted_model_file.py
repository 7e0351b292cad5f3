"""The window runs a user's model file only with the content its trust dialog showed: in its own
process and in the training children it starts (which get the trusted digest)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from resviz.errors import TrustError
from resviz.train.setup import prepare
from resviz.views.model_choice import ModelChoice

TRUSTED = '''
from torch import nn

def build_model():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 6))
    model.input_shape = (3, 8, 8)
    return model
'''


def test_a_file_replaced_after_the_trust_dialog_never_runs(qtbot, make_window, tmp_path):
    model_file, canary = tmp_path / "my_model.py", tmp_path / "canary.txt"
    model_file.write_text(TRUSTED)
    window = make_window()
    window.open_model_choice(ModelChoice(f"{model_file}:build_model", twin=False))
    shown = window._trust_dialog.sha_field.text()
    qtbot.mouseClick(window._trust_dialog.trust_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=30_000)
    assert window.loaded.main.spec.sha256 == shown

    model_file.write_text(f"import pathlib\npathlib.Path({str(canary)!r}).write_text('ran')\n" + TRUSTED)
    # What a training child is given: the digest the user trusted, which its set-up checks.
    config = window._train_config(twins=False)
    assert config.trust and config.trusted_sha256 == shown
    with pytest.raises(TrustError, match="changed since it was trusted"):
        prepare(config.replace(train_samples=8, test_samples=4))
    # Loading the same choice again in the window is refused too, until the user trusts it again.
    window.open_model_choice(window.loaded.choice)
    qtbot.waitUntil(lambda: bool(window.errors), timeout=30_000)
    assert "changed since it was trusted" in window.errors[-1]
    assert not canary.exists()
