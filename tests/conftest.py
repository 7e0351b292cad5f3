import os

import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One thread per pytest-xdist worker: workers already use every core.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
