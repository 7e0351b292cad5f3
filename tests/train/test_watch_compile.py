"""resviz.watch on a torch.compile'd model: the eager model's numbers, no graph break, no recompilation.

The compiled runs use the "aot_eager" backend: it traces the forward hooks into the graph and
runs the backward through AOT autograd (where the activation-gradient hooks fire), as inductor
does, without inductor's code generation (tens of seconds on a small CPU).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch._dynamo.testing import CompileCounterWithBackend
from torch._dynamo.utils import counters

import resviz
from resviz.runfile import LEFT_OUT_EVENT, open_run


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.fc(x))


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.b1 = Block(8)
        self.b2 = Block(8)
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.b2(self.b1(F.relu(self.inp(x)))))


STEPS = 4


def train(path, *, compile_order: str | None, every: int = 1, watched: bool = True, backend: str = "aot_eager"):
    """A few SGD steps of the same model on the same batches; the compile counter when compiled."""
    torch.manual_seed(0)
    model = TinyNet()
    counter = CompileCounterWithBackend(backend) if compile_order else None
    forward, rec = model, None
    if compile_order == "before":
        forward = torch.compile(model, backend=counter)
    if watched:
        rec = resviz.watch(forward, run=path, blocks=["b1", "b2"], every=every)
    if compile_order == "after":
        forward = torch.compile(model, backend=counter)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        x, y = torch.randn(5, 6, generator=generator), torch.randint(0, 3, (5,), generator=generator)
        loss = F.cross_entropy(forward(x), y)
        optimizer.zero_grad()
        loss.backward()
        if rec is not None:
            rec.step(loss=loss, optimizer=optimizer)
        optimizer.step()
    if rec is not None:
        rec.close()
    return counter


@pytest.fixture(scope="module")
def frames_without_resviz():
    torch._dynamo.reset()  # Dynamo's frames and graphs do not depend on the backend: "eager" is the cheapest
    return train(None, compile_order="after", watched=False, backend="eager").frame_count


@pytest.mark.parametrize(("order", "every"), [("before", 1), ("after", 2)])
def test_a_compiled_model_records_the_eager_numbers_without_breaks_or_recompiles(tmp_path, order, every,
                                                                                  frames_without_resviz):
    train(tmp_path / "eager.resviz", compile_order=None, every=every)
    torch._dynamo.reset()
    counters.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counter = train(tmp_path / "compiled.resviz", compile_order=order, every=every)
    # One graph, as without resviz: no graph break, and no recompilation (not even from `every`,
    # whose recorded and unrecorded steps alternate).
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert counter.frame_count == frames_without_resviz == 1
    with open_run(tmp_path / "eager.resviz") as eager, open_run(tmp_path / "compiled.resviz") as compiled:
        expected, got = eager.read_steps(), compiled.read_steps()
        assert got.step.tolist() == expected.step.tolist() == list(range(0, STEPS, every))
        for column in ("loss", "grad_norm", "weight_norm", "update_ratio", "act_grad_norm"):
            np.testing.assert_allclose(getattr(got, column), getattr(expected, column), rtol=1e-5, atol=1e-7,
                                       err_msg=column)
        assert np.isfinite(got.act_grad_norm).all() and np.isfinite(expected.dead_relu).all()
        # What a compiled forward cannot take is left out, and said once: in the run file and as a warning.
        assert np.isnan(got.dead_relu).all()
        left_out = compiled.events(LEFT_OUT_EVENT)
        assert len(left_out) == 1 and left_out[0].message.startswith("dead_relu not recorded: torch.compile")
        assert not eager.events(LEFT_OUT_EVENT)
    messages = [str(w.message) for w in caught if "dead_relu not recorded" in str(w.message)]
    assert len(messages) == 1
