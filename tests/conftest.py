import os

import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One thread per pytest-xdist worker: workers already use every core. The processes the tests start
# (training children, torchrun ranks, the window) inherit one thread too, so that they share the
# cores with the workers instead of fighting over them.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, torch.get_num_threads()))
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
