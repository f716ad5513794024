"""Batch-size independent forward passes: the padding every evaluation policy applies
(RLlib checkpoints in :mod:`psmarl.evaluate`, BenchMARL ones in
:mod:`psmarl.benchmarl_backend.policy`)."""

from __future__ import annotations

import numpy as np

# Forward passes get at least this many rows. With fewer, torch's CPU matmul takes another
# kernel path whose float rounding differs (measured with MKL: rows of batches of 1-3 differ
# in the last bits from the same rows in any batch of 4 or more, while batches of 4+ agree
# row for row, whatever the other rows). Padding makes a play's actions independent of
# which other plays share its batch, hence of the worker split and of the play schedule;
# `tests/test_train.py::test_shared_training_then_deterministic_evaluation` checks it on a
# trained multiwalker checkpoint.
MIN_BATCH = 8


def pad_rows(x: np.ndarray, rows: int = MIN_BATCH) -> np.ndarray:
    """``x`` with zero rows appended up to ``rows`` (first axis); unchanged if long enough."""
    if x.shape[0] >= rows:
        return x
    return np.concatenate([x, np.zeros((rows - x.shape[0],) + x.shape[1:], dtype=x.dtype)])
