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
from resviz.train.store import open_run

ROOT = Path(__file__).resolve().parents[2]
TINY = ["-o", "depth=8", "-o", "width=4", "-o", "input_size=8", "--samples", "32", "--test-samples", "12",
        "--batch-size", "16", "--quiet"]


def train(out: Path, *options: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "resviz", "train", "resnet20", *TINY, *options, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **popen)


def steps_in(path: Path) -> int:
    try:
        with open_run(path) as reader:
            return reader.step_count()
    except ResvizError:
        return 0  # not there yet: a run file appears whole or not at all


def test_sigterm_and_sighup_stop_a_run_as_ctrl_c_does(tmp_path):
    signals = (signal.SIGTERM, signal.SIGHUP)
    # Long runs that commit rarely, so the steps since the last commit are still pending when the signal comes.
    runs = {number: (tmp_path / f"{number.name}.resviz") for number in signals}
    processes = {number: train(path, "--epochs", "5000") for number, path in runs.items()}
    try:
        deadline = time.monotonic() + 120
        waiting = set(signals)
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
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for number, (code, err) in outcomes.items():
        assert code == 128 + number and err.strip().splitlines()[-1] == f"resviz: stopped by {number.name}", err
        with open_run(runs[number]) as reader:
            info = reader.info()
            steps = reader.read_steps()
            stop = reader.events("stop")
        assert (info.status, info.recorded_status, info.error) == ("stopped", "stopped", "interrupted")
        # The end is written, and every step trained is kept, the last uncommitted batch included
        # (the stop comes at the step under way: recorded already, or not yet).
        assert len(stop) == 1 and len(steps) >= 3 and stop[0].step in (len(steps) - 1, len(steps))
        assert steps.step.tolist() == list(range(len(steps)))


def _file_size_limit() -> None:  # in the child, before it runs resviz
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs a file-size limit (POSIX)")
def test_a_full_disk_is_one_line_and_the_run_ends_failed(tmp_path):
    out = tmp_path / "full.resviz"
    # Checkpoints every epoch fill the 256 KiB a file may have within a few epochs.
    process = train(out, "--epochs", "500", "--checkpoint-every", "1", preexec_fn=_file_size_limit)
    try:
        _, err = process.communicate(timeout=180)
    finally:
        process.kill()
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
