"""scripts/gpu-check: it finds the CUDA tests, and refuses in one clear line where there is no CUDA device."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-check"


def test_it_is_an_executable_script():
    assert SCRIPT.is_file() and os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text(encoding="utf-8").startswith("#!/usr/bin/env python3\n")


def test_it_selects_the_cuda_tests_and_none_that_need_qt():
    tests = runpy.run_path(str(SCRIPT), run_name="gpu_check")["cuda_tests"]()
    assert "tests/train/test_recorder.py::test_no_host_synchronisation_per_step_on_cuda" in tests
    assert "tests/train/test_trainer.py::test_no_host_synchronisation_in_the_step_loop_on_cuda" in tests
    assert not [t for t in tests if t.startswith("tests/gui/")]
    for test in tests:  # each one names CUDA in its code
        path, name = test.split("::")[0], test.split("::")[-1]
        source = (ROOT / path).read_text(encoding="utf-8")
        assert f"def {name}(" in source and "cuda" in source.lower()


def test_without_cuda_it_says_so_and_exits_2():
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # no device, even on a machine with a GPU
    result = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "gpu-check: no CUDA device" in result.stdout and "Traceback" not in result.stderr
    assert "summary" not in result.stdout  # nothing was run
