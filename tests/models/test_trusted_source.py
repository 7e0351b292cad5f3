"""A trusted model file runs exactly the bytes that were hashed, and only while it holds the
content the user trusted: a file replaced after the trust decision never runs."""

from __future__ import annotations

import hashlib
import inspect
import textwrap

import pytest
from torch import nn

import resviz
from resviz.errors import ResvizError, TrustError
from resviz.models import ModelSpec, file_sha256, load_user_model, open_model, rebuild_model

TRUSTED = textwrap.dedent("""
    from torch import nn


    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.input_shape = (4,)

        def forward(self, x):
            return self.fc(x)


    def build():
        return Small()
""")


def replacement(canary) -> str:
    """Different code at the same path: writes ``canary`` the moment it runs."""
    return textwrap.dedent(f"""
        from pathlib import Path

        from torch import nn

        Path({str(canary)!r}).write_text("the replaced file ran")


        def build():
            return nn.Linear(4, 5)
    """)


@pytest.fixture
def trusted_file(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(TRUSTED)
    return path


def test_a_file_replaced_after_it_was_trusted_is_refused_by_the_api(trusted_file, tmp_path):
    trusted = file_sha256(trusted_file)
    canary = tmp_path / "canary"
    trusted_file.write_text(replacement(canary))
    now = file_sha256(trusted_file)
    reference = f"{trusted_file}:build"
    with pytest.raises(TrustError) as caught:
        resviz.open_model(reference, trust=True, expected_sha256=trusted)
    assert str(caught.value) == (f"{trusted_file}: the file changed since it was trusted (sha256 {trusted}, now "
                                 f"{now}); review it and trust it again")
    with pytest.raises(TrustError, match="changed since it was trusted"):
        load_user_model(reference, trust=True, expected_sha256=trusted)
    # A run's recorded spec names the digest of what ran then: rebuilding it refuses the new content.
    with pytest.raises(TrustError, match="changed since it was trusted"):
        rebuild_model(ModelSpec(reference, {}, trusted), trust=True)
    assert not canary.exists()


def test_the_bytes_that_run_are_the_bytes_that_were_hashed(trusted_file, tmp_path, monkeypatch):
    """The file is swapped the moment its digest is taken: what runs must still be what was hashed."""
    canary = tmp_path / "canary"
    trusted = file_sha256(trusted_file)
    real_sha256 = hashlib.sha256

    class SwapAfterHashing:
        def __init__(self, *args):
            self.digest = real_sha256(*args)

        def update(self, data):
            self.digest.update(data)

        def hexdigest(self):
            trusted_file.write_text(replacement(canary))  # replaced between the check and the import
            return self.digest.hexdigest()

    monkeypatch.setattr("resviz.models.user.hashlib.sha256", SwapAfterHashing)
    model = open_model(f"{trusted_file}:build", trust=True, expected_sha256=trusted).model
    monkeypatch.undo()
    assert not canary.exists()
    assert type(model).__name__ == "Small" and model.fc.out_features == 3
    assert model.resviz_spec.sha256 == trusted  # the run records the digest of the bytes that ran
    # Tracebacks and inspect show the code that ran, not what the file holds now.
    assert "class Small" in inspect.getsource(type(model)) and "canary" not in inspect.getsource(type(model))


def test_unchanged_files_load_and_record_their_digest(trusted_file):
    trusted = file_sha256(trusted_file)
    loaded = open_model(f"{trusted_file}:build", trust=True, expected_sha256=trusted)
    assert isinstance(loaded.model, nn.Module) and loaded.model.resviz_spec.sha256 == trusted
    assert rebuild_model(loaded.model.resviz_spec, trust=True).fc.out_features == 3
    with pytest.raises(TrustError, match=f"pass --trust if you trust it \\(sha256 {trusted}\\)"):
        open_model(f"{trusted_file}:build", expected_sha256=trusted)


def test_a_recorded_digest_must_be_a_sha256():
    with pytest.raises(ResvizError, match="sha256 42 is not a SHA-256 digest"):
        ModelSpec.from_dict({"name": "m.py:build", "sha256": 42})
    assert ModelSpec.from_dict({"name": "m.py:build", "sha256": "ab" * 32}).sha256 == "ab" * 32
