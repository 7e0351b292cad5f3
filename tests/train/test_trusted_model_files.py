"""Training a user's model file: it runs only with the content that was trusted, on the command
line and in the window's training children, and the run records the digest of what ran."""

from __future__ import annotations

import textwrap

from resviz.cli import main
from resviz.models import file_sha256
from resviz.runfile import open_run
from resviz.train import setup
from resviz.train.config import TrainConfig
from resviz.train.worker import TrainingProcess

TRUSTED = textwrap.dedent("""
    from torch import nn


    class Inner(nn.Module):
        def __init__(self, explode):
            super().__init__()
            self.fc = nn.Linear(8, 6)
            self.explode, self.steps = explode, 0

        def forward(self, x):
            if self.training and self.explode:
                if self.steps == 2:
                    raise RuntimeError("boom at step 2")
                self.steps += 1
            return self.fc(x)


    class Boom(nn.Module):
        def __init__(self, explode):
            super().__init__()
            self.flat = nn.Flatten()
            self.body = nn.Sequential(nn.Linear(3 * 4 * 4, 8), nn.Sequential())
            self.body[1].inner = Inner(explode)
            self.input_shape = (3, 4, 4)

        def forward(self, x):
            return self.body(self.flat(x))


    def build(explode=False):
        return Boom(explode)
""")


def replacement(canary) -> str:
    return textwrap.dedent(f"""
        from pathlib import Path

        Path({str(canary)!r}).write_text("the replaced file ran")
    """) + TRUSTED


def child_config(tmp_path, model_file, name: str, **changes) -> TrainConfig:
    settings = dict(model=f"{model_file}:build", trust=True, train_samples=24, test_samples=6, batch_size=4,
                    max_steps=4, flush_every=1, checkpoint_every=0, device="cpu", out=str(tmp_path / f"{name}.resviz"))
    settings.update(changes)
    return TrainConfig(**settings)


def test_the_command_line_refuses_a_file_replaced_after_it_started(tmp_path, monkeypatch, capsys):
    model_file, canary = tmp_path / "model.py", tmp_path / "canary"
    model_file.write_text(TRUSTED)
    trusted = file_sha256(model_file)
    real_load = setup._load

    def load_then_replace(*args, **kwargs):  # the file is replaced while the data loads
        model_file.write_text(replacement(canary))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(setup, "_load", load_then_replace)
    out = tmp_path / "replaced.resviz"
    code = main(["train", f"{model_file}:build", "--trust", "--samples", "8", "--test-samples", "4", "--quiet",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err == (f"resviz: error: {model_file}: the file changed since it was trusted (sha256 "
                                 f"{trusted}, now {file_sha256(model_file)}); review it and trust it again\n")
    assert not canary.exists() and not out.exists()


def test_a_run_records_the_digest_of_the_code_that_ran(tmp_path, capsys):
    model_file = tmp_path / "model.py"
    model_file.write_text(TRUSTED)
    out = tmp_path / "ran.resviz"
    assert main(["train", f"{model_file}:build", "--trust", "--samples", "8", "--test-samples", "4", "--steps", "1",
                 "--quiet", "--out", str(out)]) == 0
    with open_run(out) as reader:
        info = reader.info()
    assert info.model_spec.sha256 == file_sha256(model_file) == info.config["trusted_sha256"]


def test_a_training_child_refuses_a_file_replaced_after_the_trust_decision(tmp_path):
    """The window's child gets the digest the user trusted; the other child names the module that failed."""
    replaced, canary = tmp_path / "replaced.py", tmp_path / "canary"
    replaced.write_text(TRUSTED)
    trusted = file_sha256(replaced)  # what the trust dialog showed
    replaced.write_text(replacement(canary))
    failing = tmp_path / "failing.py"
    failing.write_text(TRUSTED)
    processes = [
        TrainingProcess(child_config(tmp_path, replaced, "refused", trusted_sha256=trusted), threads=1),
        TrainingProcess(child_config(tmp_path, failing, "failing", trusted_sha256=file_sha256(failing),
                                     model_options={"explode": True}), threads=1)]
    try:
        for process in processes:
            process.start()
        refused, failed = (process.wait(120) for process in processes)
    finally:
        for process in processes:
            process.shutdown()
    assert refused["kind"] == "failed" and refused["error"] == (
        f"{replaced}: the file changed since it was trusted (sha256 {trusted}, now {file_sha256(replaced)}); "
        "review it and trust it again")
    assert not canary.exists() and not processes[0].path.exists()
    assert failed["kind"] == "failed" and failed["error"] == (
        "the forward pass failed at step 2: body.1.inner (Inner) raised RuntimeError: boom at step 2")
    with open_run(processes[1].path) as reader:
        assert reader.info().status == "failed" and reader.read_steps().step.tolist() == [0, 1]
