"""resviz.watch in a user's own loop, including DistributedDataParallel under torchrun."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import resviz
from resviz.errors import ResvizError
from resviz.models import get_model
from resviz.runfile import open_run
from resviz.train.layers import layer_parameters
from resviz.train.watch import Watcher

HERE = Path(__file__).parent


def tiny_model():
    return get_model("resnet20", depth=8, width=4, norm="none", input_size=8)


def all_hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


def test_watch_records_every_step_of_a_plain_loop(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(0)
    losses, first_grad_norms = [], []
    with resviz.watch(model, run=tmp_path / "mine.resviz", classes=[str(i) for i in range(10)]) as rec:
        for epoch in range(2):
            for _ in range(3):
                x, y = torch.randn(4, 3, 8, 8, generator=generator), torch.randint(0, 10, (4,), generator=generator)
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                assert rec.step(loss=loss, optimizer=optimizer, epoch=epoch)
                losses.append(loss.item())
                first_grad_norms.append(math.sqrt(sum(p.grad.norm().item() ** 2 for _, p in
                                                      layer_parameters(model)[0][1])))
                optimizer.step()
        rec.log_eval(loss=0.5, confusion=np.array([[45, 5], [3, 47]]))
        rec.checkpoint()
    assert all_hooks(model) == 0
    with open_run(tmp_path / "mine.resviz") as reader:
        info = reader.info()
        steps = reader.read_steps()
        assert info.status == "finished" and info.layer_ids[0] == "conv1" and info.block_ids[0] == "layer1.0"
        assert info.config["source"] == "watch" and info.model_spec.name == "resnet20"
        assert steps.step.tolist() == list(range(6)) and steps.epoch.tolist() == [0, 0, 0, 1, 1, 1]
        np.testing.assert_allclose(steps.loss, losses, rtol=1e-6)
        np.testing.assert_allclose(steps.grad_norm[:, 0], first_grad_norms, rtol=1e-5)
        assert np.all(steps.lr == 0.05)
        evaluation = reader.evals()[0]
        assert evaluation.acc == pytest.approx(0.92)
        np.testing.assert_allclose(evaluation.precision, [45 / 48, 47 / 52])
        np.testing.assert_allclose(evaluation.recall, [0.9, 0.94])
        weights = reader.load_checkpoint()
        torch.testing.assert_close(weights["fc.weight"], model.fc.weight.detach())


def test_an_exception_in_the_loop_marks_the_run_failed_and_keeps_its_steps(tmp_path):
    model = tiny_model()
    with pytest.raises(ValueError, match="bad batch"):
        with resviz.watch(model, run=tmp_path / "crash.resviz") as rec:
            for step in range(4):
                if step == 3:
                    raise ValueError("bad batch")
                loss = model(torch.randn(2, 3, 8, 8)).sum()
                loss.backward()
                rec.step(loss=loss)
    assert all_hooks(model) == 0
    with open_run(tmp_path / "crash.resviz") as reader:
        assert reader.info().status == "failed" and "ValueError: bad batch" in reader.info().error
        assert reader.read_steps().step.tolist() == [0, 1, 2]


def test_watch_every_n_and_refusing_to_overwrite(tmp_path):
    model = tiny_model()
    path = tmp_path / "sparse.resviz"
    with resviz.watch(model, run=path, every=2) as rec:
        for _ in range(5):
            loss = model(torch.randn(2, 3, 8, 8)).sum()
            model.zero_grad()
            loss.backward()
            rec.step(loss=loss)
    assert open_run(path).read_steps().step.tolist() == [0, 2, 4]
    with pytest.raises(ResvizError, match="already exists"):
        resviz.watch(model, run=path)
    assert all_hooks(model) == 0
    with resviz.watch(model, run=path, overwrite=True):
        pass


def test_other_ranks_record_nothing(tmp_path):
    model = tiny_model()
    with Watcher(model, tmp_path / "rank1.resviz", rank=1) as rec:
        assert not rec.active and all_hooks(model) == 0
        loss = model(torch.randn(2, 3, 8, 8)).sum()
        loss.backward()
        assert rec.step(loss=loss) is False
    assert not (tmp_path / "rank1.resviz").exists()


def test_distributed_data_parallel_under_torchrun_records_averaged_gradients_on_rank_0(tmp_path):
    sys.path.insert(0, str(HERE))
    try:
        import ddp_watch_script as script
    finally:
        sys.path.remove(str(HERE))
    run_path = tmp_path / "ddp.resviz"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(HERE / "ddp_watch_script.py"), str(run_path)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".resviz") == ["ddp.resviz"]

    # Reference: one process, both ranks' batches together. With equal local batches and a mean
    # loss, its gradient is exactly DDP's all-reduced average.
    model = script.make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = script.make_data(2)
    expected_grads, expected_rank0_losses = [], []
    for step in range(script.STEPS):
        with torch.no_grad():
            expected_rank0_losses.append(F.cross_entropy(model(x[step, 0]), y[step, 0]).item())
        loss = F.cross_entropy(model(x[step].flatten(0, 1)), y[step].flatten(0, 1))
        optimizer.zero_grad()
        loss.backward()
        expected_grads.append([math.sqrt(sum(p.grad.norm().item() ** 2 for _, p in params))
                               for _, params in layer_parameters(model)])
        optimizer.step()
    with open_run(run_path) as reader:
        info = reader.info()
        steps = reader.read_steps()
    assert info.status == "finished" and info.layer_ids[0] == "conv1"  # names without DDP's "module."
    assert steps.step.tolist() == [0, 1, 2]
    np.testing.assert_allclose(steps.grad_norm, np.array(expected_grads), rtol=1e-4)
    np.testing.assert_allclose(steps.loss, expected_rank0_losses, rtol=1e-5)


def test_two_watches_of_one_run_file_at_once_one_records_the_other_gets_one_line(tmp_path, monkeypatch):
    import threading

    import resviz.runfile.writer as store

    monkeypatch.setattr(store, "CLAIM_SECONDS", 0.05)  # the loser need not wait out a probing reader here
    path = tmp_path / "same.resviz"
    models = [tiny_model(), tiny_model()]
    for _ in range(8):
        barrier = threading.Barrier(2)
        results = [None, None]

        def start(index):
            barrier.wait()
            try:
                results[index] = resviz.watch(models[index], run=path, overwrite=True, flush_every=1)
            except ResvizError as exc:
                results[index] = exc

        threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        (winner,) = [r for r in results if isinstance(r, Watcher)]
        (loser,) = [r for r in results if isinstance(r, ResvizError)]
        assert str(loser).startswith(f"run file {path} is being written now by process ")
        assert all_hooks(models[results.index(loser)]) == 0  # the loser left its model as it was
        loss = winner.model(torch.randn(2, 3, 8, 8)).sum()
        loss.backward()
        winner.step(loss=loss)  # commits at once (flush_every=1): the file has its tables
        winner.close()
        with open_run(path) as reader:
            assert reader.info().status == "finished" and reader.step_count() == 1
