"""The training host: a child process with control and message channels that can crash safely."""

from __future__ import annotations

import os
import textwrap
import time

import pytest
import torch

from resviz.runfile import open_run
from resviz.train.config import TrainConfig
from resviz.train.worker import TrainingProcess, describe_exit, start_twins

TINY = {"depth": 8, "width": 4, "norm": "none", "input_size": 8}

CRASHY = textwrap.dedent("""
    import os
    import signal

    import torch
    from torch import nn


    class Crashy(nn.Module):
        def __init__(self, at_step=2, how="exit"):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 6)
            self.input_shape = (3, 8, 8)
            self.calls, self.at_step, self.how = 0, at_step, how

        def forward(self, x):
            if self.training:
                if self.calls == self.at_step:
                    if self.how == "exit":
                        os._exit(3)
                    os.kill(os.getpid(), signal.SIGKILL)
                self.calls += 1
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))
""")


def tiny_config(tmp_path, name="child", **changes) -> TrainConfig:
    settings = dict(model="resnet20", model_options=dict(TINY), train_samples=48, test_samples=12, batch_size=16,
                    epochs=1, flush_every=1, checkpoint_every=0, out=str(tmp_path / f"{name}.resviz"))
    settings.update(changes)
    return TrainConfig(**settings)


def wait_for(process: TrainingProcess, predicate, timeout: float = 60.0) -> list[dict]:
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.extend(process.poll(0.2))
        if predicate(seen) or process.done:
            return seen
    raise AssertionError(f"timed out; messages so far: {[m['kind'] for m in seen]}")


def test_twins_train_side_by_side_in_two_children(tmp_path):
    plain, residual = start_twins(tiny_config(tmp_path, "pair", model="resnet20", epochs=2), threads=1)
    try:
        messages = {p: wait_for(p, lambda seen: False, timeout=120) for p in (plain, residual)}
        finals = [p.wait(30) for p in (plain, residual)]
    finally:
        plain.shutdown()
        residual.shutdown()
    assert [f["status"] for f in finals] == ["finished", "finished"]
    assert (plain.path.name, residual.path.name) == ("pair-plain.resviz", "pair-residual.resviz")
    for process, twin in ((plain, residual), (residual, plain)):
        kinds = [m["kind"] for m in messages[process]]
        assert kinds[0] == "started" and kinds[-1] == "finished" and "progress" in kinds
        started = messages[process][0]
        assert started["path"] == str(process.path) and started["layer_ids"][0] == "conv1"
        assert started["classes"][0] == "circle" and started["total_steps"] == 6
        assert any(m["kind"] == "progress" and m["phase"] == "eval" for m in messages[process])
        assert process.exitcode == 0 and process.state == "finished"
        with open_run(process.path) as reader:
            info = reader.info()
            assert info.status == "finished" and reader.step_count() == 6 and info.twin == str(twin.path)
    with open_run(plain.path) as p, open_run(residual.path) as r:
        assert p.info().model_spec.name == "plain20" and r.info().model_spec.name == "resnet20"


def test_pause_resume_and_stop_over_the_control_channel(tmp_path):
    process = TrainingProcess(tiny_config(tmp_path, epochs=200, train_samples=32), threads=1)
    try:
        process.start()
        wait_for(process, lambda seen: any(m["kind"] == "progress" and m["step"] >= 2 for m in seen))
        process.pause()
        wait_for(process, lambda seen: any(m.get("phase") == "paused" for m in seen))
        assert process.state == "paused"
        with open_run(process.path) as reader:
            paused_at = reader.step_count()
            time.sleep(0.5)
            assert reader.step_count() == paused_at  # nothing trains while paused
        process.resume()
        wait_for(process, lambda seen: any(m["kind"] == "progress" and m["phase"] == "train" for m in seen))
        process.stop()
        final = process.wait(60)
    finally:
        process.shutdown()
    assert final["kind"] == "finished" and final["status"] == "stopped"
    with open_run(process.path) as reader:
        info = reader.info()
        kinds = [e.kind for e in reader.events()]
        assert info.status == "stopped" and reader.step_count() > paused_at
    assert kinds.index("pause") < kinds.index("resume") < kinds.index("stop")


def test_children_that_die_or_fail_leave_the_parent_fine_and_the_run_files_readable_and_marked(tmp_path):
    model_file = tmp_path / "crashy.py"
    model_file.write_text(CRASHY)
    processes = {}
    for how in ("exit", "kill"):  # os._exit, and a kill as a segfault or the out-of-memory killer would do
        processes[how] = TrainingProcess(tiny_config(tmp_path, f"crash-{how}", model=f"{model_file}:Crashy",
                                                     trust=True, model_options={"at_step": 2, "how": how}),
                                         threads=1)
    processes["missing"] = TrainingProcess(tiny_config(tmp_path, "missing", dataset=str(tmp_path / "no-such")),
                                           threads=1)
    try:
        for process in processes.values():
            process.start()
        finals = {how: process.wait(120) for how, process in processes.items()}
    finally:
        for process in processes.values():
            process.shutdown()
    assert "code 3" in finals["exit"]["error"] and "SIGKILL" in finals["kill"]["error"]
    for how in ("exit", "kill"):
        process = processes[how]
        assert finals[how]["kind"] == "failed" and process.state == "failed" and not process.is_alive()
        with open_run(process.path) as reader:
            info = reader.info()
            assert info.status == "failed" and info.error == finals[how]["error"]
            assert reader.read_steps().step.tolist() == [0, 1]  # every step committed before the crash
            assert reader.events("error")[-1].message == finals[how]["error"]
    # An error before training is reported as a message, not a crash.
    assert finals["missing"]["kind"] == "failed" and "no-such" in finals["missing"]["error"]
    assert processes["missing"].exitcode == 0


def test_exit_descriptions():
    assert describe_exit(3) == "exited with code 3 before finishing"
    assert "SIGSEGV" in describe_exit(-11) and "crashed" in describe_exit(-11)
    assert "SIGKILL" in describe_exit(-9) and "out of memory" in describe_exit(-9)
    assert describe_exit(None) == "is still running"


class GoneChild:
    """Stands in for a child process that has already ended."""

    def __init__(self, pid: int, exitcode: int) -> None:
        self.pid, self.exitcode = pid, exitcode

    def join(self, timeout=None) -> None:
        pass

    def is_alive(self) -> bool:
        return False


def test_a_child_gone_before_its_run_file_exists_is_reported_without_marking_anything(tmp_path):
    process = TrainingProcess(tiny_config(tmp_path, "never"))
    process._process = GoneChild(pid=12345, exitcode=-9)
    [final] = process._child_gone()
    assert final["kind"] == "failed" and "SIGKILL" in final["error"] and process.state == "failed"
    assert not process.path.exists()


def test_a_run_its_child_finished_keeps_its_status_when_the_child_is_reported_gone(tmp_path):
    from resviz.train.trainer import Trainer

    process = TrainingProcess(tiny_config(tmp_path, "done", max_steps=1))
    result = Trainer(process.config).run()  # written by this process, as the child would have
    process._process = GoneChild(pid=os.getpid(), exitcode=0)
    [final] = process._child_gone()
    assert final["kind"] == "failed" and "code 0" in final["error"]
    with open_run(result.path) as reader:
        assert reader.info().status == "finished" and not reader.events("error")  # the child's word stands


def test_sigterm_and_sighup_stop_a_child_as_ctrl_c_does(tmp_path):
    import signal

    # Commits of 50 steps at most once a second: a stop keeps the steps since the last one.
    processes = {number: TrainingProcess(tiny_config(tmp_path, number.name, epochs=500, train_samples=32,
                                                     flush_every=50), threads=1)
                 for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for process in processes.values():
            process.start()
        for number, process in processes.items():
            wait_for(process, lambda seen: any(m["kind"] == "progress" and m["step"] >= 3 for m in seen))
            os.kill(process.pid, number)  # as a service manager, `kill`, or a closed terminal would
        finals = {number: process.wait(60) for number, process in processes.items()}
    finally:
        for process in processes.values():
            process.shutdown()
    for number, process in processes.items():
        final = finals[number]
        assert (final["kind"], final["status"]) == ("finished", "stopped")
        assert process.exitcode == 0 and process.state == "stopped"
        with open_run(process.path) as reader:
            info = reader.info()
            steps = reader.read_steps()
            stop = reader.events("stop")
        # Stopped at a step boundary: the end written, every step trained kept, the last batch included.
        assert info.status == "stopped" and len(stop) == 1 and stop[0].step == len(steps) >= 3
        assert steps.step.tolist() == list(range(len(steps)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_child_forked_from_the_preloaded_server_trains_on_cuda(tmp_path):
    """The fork server imported PyTorch without touching CUDA, so its children can use it."""
    process = TrainingProcess(tiny_config(tmp_path, "cuda", device="cuda")).start()
    try:
        messages = wait_for(process, lambda seen: False, timeout=120)
        final = process.wait(30)
    finally:
        process.shutdown()
    assert final["status"] == "finished", final
    assert messages[0]["kind"] == "started" and messages[0]["device"].startswith("cuda")
    with open_run(process.path) as reader:
        assert reader.info().status == "finished" and reader.step_count() == 3
