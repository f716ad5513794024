"""Strict comparison of what two PettingZoo parallel envs return (tests/test_fast_sisl.py,
tests/test_wrappers.py): dict keys in order, values with their type, arrays bitwise
(dtype, shape, bytes), floats including the sign of zero."""

from __future__ import annotations

import numpy as np


def assert_same_value(a, b, where):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), where  # bitwise
        return
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, float):
        assert a == b or (np.isnan(a) and np.isnan(b)), (where, a, b)
        assert np.signbit(a) == np.signbit(b), (where, a, b)
    elif isinstance(a, dict):
        assert_same_dict(a, b, where)
    else:
        assert a == b, (where, a, b)


def assert_same_dict(d1, d2, where, ordered=True):
    if ordered:
        assert list(d1) == list(d2), (where, list(d1), list(d2))
    else:
        assert sorted(d1) == sorted(d2), (where, sorted(d1), sorted(d2))
    for k in d1:
        assert_same_value(d1[k], d2[k], (where, k))


def assert_same_step(r1, r2, where, ordered=True):
    """One ``step()`` result (obs, rewards, terminations, truncations, infos) of each;
    ``ordered=False``: the agents' order in the dicts may differ."""
    for name, d1, d2 in zip(("obs", "rewards", "terminations", "truncations", "infos"), r1, r2):
        assert_same_dict(d1, d2, (where, name), ordered)
