"""The run file's records: step batches."""

from __future__ import annotations

import numpy as np
import pytest
from runfile_support import batch_of

from resviz.runfile import StepBatch


def test_step_batch_helpers():
    empty = StepBatch.empty(3, 1)
    assert len(empty) == 0 and empty.grad_norm.shape == (0, 3) and empty.act_grad_norm.shape == (0, 1)
    joined = StepBatch.concat([batch_of([0, 1]), empty, batch_of([2])])
    assert joined.step.tolist() == [0, 1, 2] and joined.grad_norm[:, 1].tolist() == [0, 2, 4]
    assert joined[1:].step.tolist() == [1, 2] and joined.last_step == 2
    with pytest.raises(ValueError, match="shape"):
        StepBatch(**{**batch_of([0, 1]).__dict__, "dead_relu": np.zeros((3, 1))})
