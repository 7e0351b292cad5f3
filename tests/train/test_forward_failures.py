"""A forward pass that fails names its module, its step and (for a shape mismatch) the shape
doctor's fix, in one line (exit 2), in the trainer, the command line and ``resviz.watch``,
and the run file keeps every step before it."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

import resviz
from resviz.cli import main
from resviz.data import make_shapes
from resviz.errors import ResvizError
from resviz.runfile import open_run
from resviz.train.config import TrainConfig
from resviz.train.trainer import Trainer

# ``body.1.inner`` raises at training step 7; ``layer1.0`` is the seeds' ResNetBlock(64, 128)
# (a 64-channel input added to a 128-channel output), broken from ``broken_after`` forward passes on.
MODELS = textwrap.dedent("""
    import torch
    from torch import nn


    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.steps = 0

        def forward(self, x):
            if self.training:
                if self.steps == 7:
                    raise RuntimeError("boom at step 7")
                self.steps += 1
            return self.fc(x)


    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 8))
            self.body = nn.Sequential(nn.ReLU(), nn.Sequential())
            self.body[1].inner = Inner()
            self.head = nn.Linear(8, 6)
            self.input_shape = (3, 4, 4)

        def forward(self, x):
            return self.head(self.body(self.stem(x)))


    class Refuses(torch.autograd.Function):
        # Passes gradients back, and raises from its 5th backward pass on.
        calls = 0

        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            Refuses.calls += 1
            if Refuses.calls > 4:
                raise RuntimeError("no gradient today")
            return grad


    class BackwardBoom(Boom):
        def forward(self, x):
            return self.head(Refuses.apply(self.stem(x)))


    class ResNetBlock(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
            self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
            self.relu = nn.ReLU()

        def forward(self, x):
            out = self.relu(self.conv1(x))
            out = self.conv2(out)
            out += x  # skip connection
            out = self.relu(out)
            return out


    class Mismatch(nn.Module):
        def __init__(self, broken_after=0):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 3, padding=1)
            self.layer1 = nn.Sequential(ResNetBlock(64, 128))
            self.working = ResNetBlock(64, 64)
            self.fc = nn.Linear(64, 6)
            self.input_shape = (3, 4, 4)
            self.calls, self.broken_after = 0, broken_after

        def forward(self, x):
            self.calls += 1
            h = self.conv1(x)
            h = self.layer1(h)[:, :64] if self.calls > self.broken_after else self.working(h)
            return self.fc(h.mean((2, 3)))
""")
FIX = "fix: add a 1x1 projection: nn.Conv2d(64, 128, kernel_size=1, stride=1) (+ norm) on the shortcut"
DATA = ["--samples", "48", "--test-samples", "12", "--batch-size", "4", "--quiet", "--trust"]


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def test_a_forward_that_raises_names_its_module_and_step_in_one_line(models, tmp_path, capsys):
    out = tmp_path / "boom.resviz"
    assert main(["train", f"{models}:Boom", *DATA, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    expected = "the forward pass failed at step 7: body.1.inner (Inner) raised RuntimeError: boom at step 7"
    assert err == f"resviz: error: {expected}\n"
    with open_run(out) as reader:
        info = reader.info()
        assert info.status == "failed" and info.error == expected
        assert reader.read_steps().step.tolist() == list(range(7))  # steps 0-6 kept


def test_a_backward_that_raises_names_the_function_and_step_in_one_line(models, tmp_path, capsys):
    out = tmp_path / "backward.resviz"
    assert main(["train", f"{models}:BackwardBoom", *DATA, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    expected = ("the backward pass failed at step 4 in Refuses.backward (models.py:45): "
                "RuntimeError: no gradient today")
    assert err == f"resviz: error: {expected}\n"
    with open_run(out) as reader:
        info = reader.info()
        assert info.status == "failed" and info.error == expected
        assert reader.read_steps().step.tolist() == list(range(4))


def test_a_shape_mismatch_at_set_up_gets_the_shape_doctor(models, tmp_path, capsys):
    out = tmp_path / "mismatch.resviz"
    assert main(["train", f"{models}:Mismatch", *DATA, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"resviz: error: {models}:Mismatch: the model fails on a (3, 4, 4) input: layer1.0 "
                          "(ResNetBlock): add of (1, 128, 4, 4) and (1, 64, 4, 4) fails: the shortcut carries 64 "
                          "channels but the branch gives 128; ")
    assert err.rstrip().endswith(FIX) and err.count("\n") == 1 and "must match the size" not in err
    assert not out.exists()  # nothing was recorded


def test_a_shape_mismatch_during_training_gets_the_shape_doctor(models, tmp_path, capsys):
    out = tmp_path / "later.resviz"
    # The set-up check is the first forward pass, then steps 0 and 1; step 2 takes the broken block.
    assert main(["train", f"{models}:Mismatch", "-o", "broken_after=3", *DATA, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resviz: error: the forward pass failed at step 2: layer1.0 (ResNetBlock): add of "
                          "(4, 128, 4, 4) and (4, 64, 4, 4) fails: the shortcut carries 64 channels")
    assert err.rstrip().endswith(FIX)
    with open_run(out) as reader:
        info = reader.info()
        assert info.status == "failed" and FIX in info.error
        assert reader.read_steps().step.tolist() == [0, 1]


def test_resviz_watch_names_the_failing_module_in_the_run_and_under_the_traceback(tmp_path):
    namespace: dict = {}
    exec(compile(MODELS, "models.py", "exec"), namespace)  # noqa: S102 - the test's own code
    model = namespace["Mismatch"](broken_after=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(2, 3, 4, 4), torch.tensor([0, 1])
    path = tmp_path / "watched.resviz"
    with pytest.raises(RuntimeError, match="must match the size") as caught:  # the user's own error, as it was
        with resviz.watch(model, run=path, flush_every=1) as rec:
            for _ in range(3):
                loss = nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                rec.step(loss=loss, optimizer=optimizer)
                optimizer.step()
    explained = ("the forward pass failed at step 2: layer1.0 (ResNetBlock): add of (2, 128, 4, 4) and "
                 f"(2, 64, 4, 4) fails: the shortcut carries 64 channels but the branch gives 128; {FIX}")
    if hasattr(caught.value, "add_note"):
        assert caught.value.__notes__ == [f"resviz: {explained}"]
    with open_run(path) as reader:
        info = reader.info()
        assert info.status == "failed" and info.error == explained
        assert reader.read_steps().step.tolist() == [0, 1]


def test_out_of_memory_in_the_set_up_check_gets_the_batch_size_hint(tmp_path):
    class Hungry(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * 8 * 8, 6)
            self.input_shape = (3, 8, 8)

        def forward(self, x):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    config = TrainConfig(model="hungry", train_samples=8, test_samples=4, batch_size=16, device="cpu",
                         out=str(tmp_path / "hungry.resviz"))
    trainer = Trainer(config, model=Hungry(), train_data=make_shapes(8, size=8, seed=0),
                      test_data=make_shapes(4, size=8, seed=1))
    with pytest.raises(ResvizError) as caught:
        trainer.run()
    assert str(caught.value) == ("out of memory on cpu at step 0 with batch size 16; try a smaller batch "
                                 "(--batch-size 8)")
