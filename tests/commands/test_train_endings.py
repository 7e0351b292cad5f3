"""How ``resviz train`` ends when it is told to stop or cannot write: signals and a full disk, in real processes."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resviz.errors import ResvizError
from resviz.runfile import open_run

# Its module-scoped fixture is costly: one worker runs the module, once.
pytestmark = pytest.mark.xdist_group("train_endings")

ROOT = Path(__file__).resolve().parents[2]
TINY = ["-o", "depth=8", "-o", "width=4", "-o", "input_size=8", "--samples", "32", "--test-samples", "12",
        "--batch-size", "16", "--quiet"]


def train(out: Path, *options: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "resviz", "train", "resnet20", *TINY, *options, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **popen)


def steps_in(path: Path) -> int:
    try:
        with open_run(path) as reader:
            return reader.step_count()
    except ResvizError:
        return 0  # not there yet: a run file appears whole or not at all


def _file_size_limit() -> None:  # in the child, before it runs resviz
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@pytest.fixture(scope="module")
def trainings(tmp_path_factory):
    """The runs of this module's tests, started at once (most of their time is starting Python)."""
    folder = tmp_path_factory.mktemp("endings")
    started = {}
    for number in STOP_SIGNALS:
        # Long runs that commit rarely, so steps since the last commit are pending when the signal comes.
        path = folder / f"{number.name}.resviz"
        started[number] = (path, train(path, "--epochs", "5000"))
    # Checkpoints every epoch fill the 256 KiB a file may have within a few epochs.
    path = folder / "full.resviz"
    started["full"] = (path, train(path, "--epochs", "500", "--checkpoint-every", "1", preexec_fn=_file_size_limit))
    yield started
    for _, process in started.values():
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_sigterm_and_sighup_stop_a_run_as_ctrl_c_does(trainings):
    runs = {number: trainings[number][0] for number in STOP_SIGNALS}
    processes = {number: trainings[number][1] for number in STOP_SIGNALS}
    deadline = time.monotonic() + 120
    waiting = set(STOP_SIGNALS)
    while waiting and time.monotonic() < deadline:
        for number in list(waiting):
            assert processes[number].poll() is None, processes[number].communicate()
            if steps_in(runs[number]) >= 3:
                processes[number].send_signal(number)
                waiting.discard(number)
        time.sleep(0.05)
    assert not waiting, "training did not start"
    outcomes = {number: (process.wait(timeout=60), process.communicate()[1]) for number, process in
                processes.items()}
    for number, (code, err) in outcomes.items():
        assert code == 128 + number and err.strip().splitlines()[-1] == f"resviz: stopped by {number.name}", err
        with open_run(runs[number]) as reader:
            info = reader.info()
            steps = reader.read_steps()
            stop = reader.events("stop")
            final_weights = reader.checkpoints()[-1].step
        assert (info.status, info.recorded_status, info.error) == ("stopped", "stopped", None)
        # It stopped at a step boundary: the end is written, every step trained is kept (the last
        # uncommitted batch included), and so are the final weights.
        assert len(stop) == 1 and len(steps) >= 3 and stop[0].step == len(steps) == final_weights
        assert steps.step.tolist() == list(range(len(steps)))


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs a file-size limit (POSIX)")
def test_a_full_disk_is_one_line_and_the_run_ends_failed(trainings):
    out, process = trainings["full"]
    _, err = process.communicate(timeout=180)
    lines = err.strip().splitlines()
    assert process.returncode == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"resviz: error: run file {out}: cannot write: the file-size limit (262,144 bytes")
    assert lines[0].endswith("the steps committed before are kept")
    with open_run(out) as reader:
        info = reader.info()
        steps = reader.read_steps()
        assert reader.evals() and reader.checkpoints()  # what was committed before is there
    assert info.status == "failed" and "file-size limit" in info.error
    assert len(steps) > 0 and steps.step.tolist() == list(range(len(steps)))
