"""The MAILP theory of Section 3: Theorems 1-3, a simulator of equations (1)-(3), Figure 1.

The Multi-Agent Informational Learning Process (MAILP, Section 2.3 of the paper) gives each
agent ``i`` information ``I_i in [0, 1]``, split into information about the environment,
``I_{i,env}``, and about other agents, ``I_{i,j}``. Agent ``i`` needs a fraction
``C_{i,env}`` of its information about the environment and ``C_{i,j}`` about agent ``j``
(coordination coefficients, summing to 1). After each learning step (Section 2.3)::

    (1)  up I_{i,x}(t)   = K_{i,x} * Lambda(C_{i,x} - I_{i,x}(t-1))          x = env or an agent j
    (2)  down I_{i,j}(t) = up I_j(t) * I_{i,j}(t-1) / (I_j(t-1) + up I_j(t))
         I_i(t) = I_i(t-1) + up I_{i,env}(t) + sum_j (up I_{i,j}(t) - down I_{i,j}(t))
    (3)  I_i(t) = I_{i,env}(t) + sum_{j != i} I_{i,j}(t)

where ``up I_j(t)`` is everything agent ``j`` learned in step ``t`` (the sum of its (1)
terms), ``K`` is the centralization coefficient and ``Lambda`` the learning function
(``0 <= Lambda(x) <= x`` on ``[0, 1]``). Learning is complete at the first step ``t`` with
``I_i(t) >= 1 - epsilon`` for every agent.

The bounds (transcribed from Section 3 and re-derived from Appendix A.1):

* Theorem 1 (single agent, ``C_env = 1``):
  ``I^-1(1 - eps) >= (log eps - log(1 - I0)) / log(1 - K_env)``, exact for Lambda(x) = x.
* Theorem 2 (N symmetric agents, ``C_env + (N - 1) C_* = 1``, environment already known,
  ``I_{i,env}(0) = (1 - eps) C_env``): ``I_i^-1(1 - eps) >= t*`` with
  ``t* = log(C_* eps / (C_* - I0)) / log(1 - K_* + K_* I0 / (C_env/(N-1) + C_*(K_* + 1)))``
  where ``I0 = I_{*,*}(0)`` is what an agent initially knows about each other agent.
* Theorem 3 (``K_* -> 1``, parameter sharing):
  ``t* -> log(C_* eps / (C_* - I0)) / log(I0 (N - 1) / (1 + (N - 1) C_*))``.

The workflow entry point is :func:`run` (``psmarl theory``): a tidy CSV of bounds and
simulated convergence times over a grid of ``K_*`` and Figure 1. Every invalid parameter
raises :class:`psmarl.errors.ConfigError` whose ``key`` names the parameter.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from psmarl.defaults import section
from psmarl.errors import ConfigError

LearningFunction = Callable[[np.ndarray], np.ndarray]

#: Figure 1 of the paper (C_env 0.1, epsilon 0.001, I0 0.01, N 3) plus a K_* grid; the
#: values live in psmarl.defaults (``theory``), with the other config defaults.
DEFAULTS: dict[str, Any] = section("theory")

#: Names accepted by :func:`learning_function`.
LEARNING_FUNCTIONS = ("identity", "scaled", "power")

#: Columns of the CSV written by :func:`run` (see :func:`compute_table`).
CSV_COLUMNS = [
    "quantity",
    "setting",
    "K",
    "value",
    "N",
    "C_env",
    "C_star",
    "epsilon",
    "I0",
    "learning_function",
    "learning_param",
]

#: ``quantity`` values of the CSV.
QUANTITIES = {
    "theorem2_bound": "Theorem 2 lower bound t* on the multi-agent convergence step",
    "multi_agent_simulated": "first step with I_i >= 1 - epsilon for all agents, simulated",
    "theorem3_limit": "Theorem 3: limit of the Theorem 2 bound as K_* -> 1 (one row, K = 1)",
    "theorem1_bound": "Theorem 1 bound for one agent with K_env = K (exact when Lambda(x) = x)",
    "single_agent_simulated": "first step with I >= 1 - epsilon for one agent, simulated",
}

_SUM_TOL = 1e-9  # tolerance of C_env + (N - 1) C_* = 1
_LAMBDA_TOL = 1e-12  # tolerance of 0 <= Lambda(x) <= x


class NotConvergedError(ConfigError):
    """The simulator did not reach 1 - epsilon within ``max_steps`` (or stopped learning)."""


# ---------------------------------------------------------------- validation
def _number(
    value: Any,
    key: str,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    what: str = "",
) -> float:
    """``value`` as a float inside the interval, else ConfigError naming ``key``."""
    interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"must be a number in {interval}, got {value!r}", key=key)
    v = float(value)
    ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        raise ConfigError(f"{what or 'must be'} in {interval}, got {value!r}".strip(), key=key)
    return v


def _integer(value: Any, key: str, minimum: int, what: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"must be an integer >= {minimum}, got {value!r}", key=key)
    if value < minimum:
        raise ConfigError(f"{what or 'must be an integer'} >= {minimum}, got {value!r}", key=key)
    return int(value)


def _epsilon(epsilon: Any, prefix: str = "") -> float:
    return _number(
        epsilon,
        prefix + "epsilon",
        0.0,
        1.0,
        lo_open=True,
        hi_open=True,
        what="must be a tolerance",
    )


def _K(K: Any, key: str) -> float:
    return _number(K, key, 0.0, 1.0, lo_open=True, what="centralization coefficient must be")


def coordination(
    N: Any, C_env: Any, C_star: Any = None, *, prefix: str = ""
) -> tuple[int, float, float]:
    """Check the coordination coefficients of Theorem 2's symmetric setting.

    Returns ``(N, C_env, C_star)``. ``C_star`` defaults to ``(1 - C_env) / (N - 1)``
    (Section 3: ``C_{i,env} + sum_{j != i} C_{i,j} = 1``); when given it must satisfy
    ``C_env + (N - 1) C_star = 1`` (to 1e-9).
    """
    N = _integer(N, prefix + "N", 2, what="the multi-agent setting needs N")
    C_env = _number(C_env, prefix + "C_env", 0.0, 1.0)
    if C_star is None:
        C_star = (1.0 - C_env) / (N - 1)
    else:
        C_star = _number(C_star, prefix + "C_star", 0.0, 1.0)
        total = C_env + (N - 1) * C_star
        if abs(total - 1.0) > _SUM_TOL:
            raise ConfigError(
                f"C_env + (N - 1) * C_star must equal 1 (an agent's coordination coefficients "
                f"sum to 1), got {C_env:g} + ({N} - 1) * {C_star:g} = {total:.12g}; leave "
                f"C_star unset to derive it",
                key=prefix + "C_star",
            )
    if C_star <= 0.0:
        raise ConfigError(
            f"C_star = (1 - C_env)/(N - 1) must be > 0 (agents that need no information about "
            f"each other are the single-agent case, Theorem 1), got C_env = {C_env:g}",
            key=prefix + "C_env",
        )
    return N, C_env, C_star


def _pair_I0(I0: Any, C_star: float, prefix: str = "") -> float:
    """I_{*,*}(0): what an agent knows about another at the start; 0 <= I0 < C_star."""
    I0 = _number(I0, prefix + "I0", 0.0, 1.0)
    if I0 >= C_star:
        raise ConfigError(
            f"initial information about another agent must be below C_star = {C_star:g} "
            f"(an agent cannot know more about another than it needs), got {I0:g}",
            key=prefix + "I0",
        )
    return I0


# ---------------------------------------------------------------- theorems
def theorem1_bound(K_env: float, I0: float, epsilon: float) -> float:
    r"""Theorem 1: lower bound on single-agent convergence time (exact for Lambda(x) = x).

    .. math::
        \mathcal{I}^{-1}(1-\epsilon) \ge
        \frac{\log(\epsilon) - \log(1 - \mathcal{I}^0)}{\log(1 - \mathcal{K}_{env})}

    From eq. (4) of Appendix A.1, ``I(t) = I(t-1) + K_env Lambda(1 - I(t-1))`` (``C_env = 1``)
    and Lemma 1: ``I(t) <= 1 - (1 - K_env)^t (1 - I0)``, with equality for Lambda(x) = x, so
    the simulated step count then equals ``max(0, ceil(bound))`` (for ``K_env < 1``).

    ``K_env`` in (0, 1], ``I0`` in [0, 1), ``epsilon`` in (0, 1). At ``K_env = 1`` the
    denominator is ``log 0 = -inf`` and the bound is its limit, 0 (the agent then learns
    everything in one step). A negative value means ``I0 >= 1 - epsilon`` (already learned).
    """
    K_env = _K(K_env, "K_env")
    I0 = _number(I0, "I0", 0.0, 1.0, hi_open=True)
    epsilon = _epsilon(epsilon)
    if K_env == 1.0:
        return 0.0
    return (math.log(epsilon) - math.log1p(-I0)) / math.log1p(-K_env)


def _theorem2_numerator(C_star: float, epsilon: float, I0: float) -> float:
    return math.log(C_star * epsilon / (C_star - I0))


def theorem2_bound(
    K: float, N: int, C_env: float, epsilon: float, I0: float, C_star: float | None = None
) -> float:
    r"""Theorem 2: lower bound ``t*`` on multi-agent convergence, ``I_i^{-1}(1-eps) >= t*``.

    .. math::
        t^* = \frac{\log\left(\mathcal{C}_*\epsilon / (\mathcal{C}_* - \mathcal{I}^0_{*,*})\right)}
                   {\log\left(1 - \mathcal{K}_* + \frac{\mathcal{K}_*\mathcal{I}^0_{*,*}}
                    {\mathcal{C}_{env}/(n-1) + \mathcal{C}_*(\mathcal{K}_* + 1)}\right)}

    Setting: ``N >= 2`` identical agents, each needing ``C_star`` of its information about
    every other agent and ``C_env = 1 - (N - 1) C_star`` about the environment, which it
    already knows to ``(1 - epsilon) C_env``; ``K`` (``K_*``) is the centralization
    coefficient of every pair and ``I0`` (``I_{*,*}^0``) what an agent initially knows about
    each other agent (``0 <= I0 < C_star``). Appendix A.1 bounds the net change of
    ``I_{*,*}`` by ``K_* (C_* - I_{*,*}) (1 - I0 / (C_env/(n-1) + C_*(K_* + 1)))`` and applies
    Lemma 1 (eq. 7); ``t*`` solves ``I_{*,*}(t) = C_* (1 - epsilon)`` on that envelope. The
    bound is not tight, even for Lambda(x) = x. When ``K = 1`` and ``I0 = 0`` the
    denominator is ``log 0`` and the value is its limit, 0.
    """
    N, C_env, C_star = coordination(N, C_env, C_star)
    K = _K(K, "K")
    epsilon = _epsilon(epsilon)
    I0 = _pair_I0(I0, C_star)
    ratio = 1.0 - K + K * I0 / (C_env / (N - 1) + C_star * (K + 1.0))
    if ratio <= 0.0:
        return 0.0
    return _theorem2_numerator(C_star, epsilon, I0) / math.log(ratio)


def theorem3_limit(
    N: int, C_env: float, epsilon: float, I0: float, C_star: float | None = None
) -> float:
    r"""Theorem 3: the limit of Theorem 2's ``t*`` as ``K_* -> 1`` (parameter sharing).

    .. math::
        \lim_{\mathcal{K}_*\to 1} t^* =
        \frac{\log\left(\mathcal{C}_*\epsilon / (\mathcal{C}_* - \mathcal{I}^0_{*,*})\right)}
             {\log\left(\frac{\mathcal{I}^0_{*,*}(n-1)}{1 + (n-1)\mathcal{C}_*}\right)}

    (Appendix A.1: at ``K_* = 1`` the denominator's argument is
    ``I0 / (C_env/(n-1) + 2 C_*)``, and ``C_env = 1 - (n-1) C_*``.) Same parameters as
    :func:`theorem2_bound`; for ``I0 = 0`` the limit is 0.
    """
    N, C_env, C_star = coordination(N, C_env, C_star)
    epsilon = _epsilon(epsilon)
    I0 = _pair_I0(I0, C_star)
    if I0 == 0.0:
        return 0.0
    return _theorem2_numerator(C_star, epsilon, I0) / math.log(
        I0 * (N - 1) / (1.0 + (N - 1) * C_star)
    )


# ---------------------------------------------------------------- learning functions
def identity(x: np.ndarray) -> np.ndarray:
    """Lambda(x) = x, the paper's default (Theorem 1 is then exact)."""
    return x


def learning_function(
    name: str = "identity", param: float = 1.0, *, prefix: str = ""
) -> LearningFunction:
    """A learning function Lambda with ``0 <= Lambda(x) <= x`` on [0, 1], by name.

    ``identity``: ``x``; ``scaled``: ``param * x`` (``0 < param <= 1``);
    ``power``: ``x ** param`` (``param >= 1``). All take and return numpy arrays.
    """
    if name == "identity":
        _number(param, prefix + "learning_param", -math.inf, math.inf)
        return identity
    if name == "scaled":
        a = _number(
            param,
            prefix + "learning_param",
            0.0,
            1.0,
            lo_open=True,
            what="the factor a of Lambda(x) = a*x must be",
        )
        return lambda x: a * x
    if name == "power":
        p = _number(
            param,
            prefix + "learning_param",
            1.0,
            math.inf,
            what="the exponent p of Lambda(x) = x**p must be",
        )
        return lambda x: np.power(x, p)
    raise ConfigError(
        f"unknown learning function {name!r}; use one of {', '.join(LEARNING_FUNCTIONS)}",
        key=prefix + "learning_function",
    )


def _apply(Lambda: LearningFunction, x: np.ndarray) -> np.ndarray:
    """Lambda(x) on [0, 1], checking the model's premise 0 <= Lambda(x) <= x."""
    x = np.maximum(x, 0.0)  # guards rounding only: C - I >= 0 in exact arithmetic
    if Lambda is identity:
        return x
    y = np.asarray(Lambda(x), dtype=float)
    if y.shape != x.shape:
        y = np.broadcast_to(y, x.shape)
    ok = (y >= -_LAMBDA_TOL) & (y <= x + _LAMBDA_TOL)  # False for nan and inf too
    if not ok.all():
        k = np.flatnonzero(~ok.ravel())[0]
        raise ConfigError(
            f"the learning function must satisfy 0 <= Lambda(x) <= x on [0, 1] (Section 2.3), "
            f"got Lambda({x.ravel()[k]:.6g}) = {y.ravel()[k]:.6g}",
            key="Lambda",
        )
    return y


# ---------------------------------------------------------------- simulator
@dataclass(frozen=True)
class MAILPState:
    """Information of N agents: ``env[i] = I_{i,env}``, ``pair[i, j] = I_{i,j}`` (zero diagonal)."""

    env: np.ndarray
    pair: np.ndarray

    def totals(self) -> np.ndarray:
        """``I_i = I_{i,env} + sum_{j != i} I_{i,j}`` (eq. 3), one value per agent."""
        return self.env + self.pair.sum(axis=1)


def mailp_step(
    state: MAILPState,
    *,
    C_env: np.ndarray,
    C_pair: np.ndarray,
    K_env: np.ndarray,
    K_pair: np.ndarray,
    Lambda: LearningFunction = identity,
) -> MAILPState:
    """One learning step of the MAILP model, equations (1)-(3).

    Groups are single agents (``C_{i,G} = 0`` for larger groups, which then never gain
    information since ``Lambda(0) = 0``). Arrays: ``C_env``/``K_env`` shape ``(N,)``,
    ``C_pair``/``K_pair`` shape ``(N, N)`` with zero diagonals. For agent ``i`` and ``j != i``:

    * (1) ``up_env[i] = K_env[i] Lambda(C_env[i] - I_{i,env})``,
      ``up[i, j] = K_pair[i, j] Lambda(C_pair[i, j] - I_{i,j})``;
    * ``up_total[j] = up_env[j] + sum_k up[j, k]`` is all that agent ``j`` learned this step;
    * (2) ``down[i, j] = up_total[j] I_{i,j} / (I_j + up_total[j])`` (0 if the denominator
      is 0), the part of ``i``'s knowledge of ``j`` made stale by ``j``'s learning;
    * ``I_{i,env} += up_env[i]``, ``I_{i,j} += up[i, j] - down[i, j]``; ``I_i`` then
      follows from (3). All updates use the values of step ``t - 1``.
    """
    I_prev = state.totals()
    up_env = K_env * _apply(Lambda, C_env - state.env)
    up = K_pair * _apply(Lambda, C_pair - state.pair)
    up_total = up_env + up.sum(axis=1)
    denom = I_prev + up_total
    stale = np.divide(up_total, denom, out=np.zeros_like(up_total), where=denom > 0)
    down = state.pair * stale[np.newaxis, :]
    return MAILPState(env=state.env + up_env, pair=state.pair + up - down)


def _first_step(
    state: MAILPState, epsilon: float, max_steps: int, *, step_kwargs: Mapping[str, Any], what: str
) -> int:
    """Iterate :func:`mailp_step`; the first t with every I_i(t) >= 1 - epsilon.

    The test is ``1 - I_i(t) <= epsilon``: for ``I_i >= 1/2`` the difference is exact in
    floating point, whereas ``1 - epsilon`` may round (e.g. to exactly 0.5 for an epsilon
    a hair below 0.5) and let the simulator finish a step early.
    """
    gaps = 1.0 - state.totals()
    t = 0
    while not (gaps <= epsilon).all():
        if t >= max_steps:
            raise NotConvergedError(
                f"{what}: information {1 - gaps.max():.9g} < 1 - epsilon = {1 - epsilon:.9g} "
                f"after max_steps = {max_steps} steps; raise max_steps (or K)",
                key="max_steps",
            )
        state = mailp_step(state, **step_kwargs)
        new = 1.0 - state.totals()
        if (new == gaps).all():
            raise NotConvergedError(
                f"{what}: learning stopped at step {t + 1} with information "
                f"{1 - new.max():.9g} < 1 - epsilon = {1 - epsilon:.9g} (Lambda gives no "
                f"more progress)",
                key="Lambda",
            )
        gaps = new
        t += 1
    return t


def simulate_single_agent(
    K_env: float,
    I0: float,
    epsilon: float,
    Lambda: LearningFunction | None = None,
    *,
    max_steps: int = DEFAULTS["max_steps"],
) -> int:
    """Simulate one agent (``C_env = 1``, eq. 4): the first step with ``I(t) >= 1 - epsilon``.

    Runs :func:`mailp_step` with ``N = 1``: ``I(t) = I(t-1) + K_env Lambda(1 - I(t-1))``,
    ``I(0) = I0``. Raises :class:`NotConvergedError` after ``max_steps`` steps.
    """
    K_env = _K(K_env, "K_env")
    I0 = _number(I0, "I0", 0.0, 1.0)
    epsilon = _epsilon(epsilon)
    max_steps = _integer(max_steps, "max_steps", 1)
    state = MAILPState(env=np.array([I0]), pair=np.zeros((1, 1)))
    kw = dict(
        C_env=np.ones(1),
        C_pair=np.zeros((1, 1)),
        K_env=np.array([K_env]),
        K_pair=np.zeros((1, 1)),
        Lambda=Lambda or identity,
    )
    return _first_step(
        state, epsilon, max_steps, step_kwargs=kw, what=f"single agent (K_env = {K_env:g})"
    )


def simulate_multi_agent(
    K: float,
    N: int,
    C_env: float,
    epsilon: float,
    I0: float,
    C_star: float | None = None,
    Lambda: LearningFunction | None = None,
    *,
    K_env: float = 0.0,
    I_env0: float | None = None,
    max_steps: int = DEFAULTS["max_steps"],
) -> int:
    """Simulate Theorem 2's symmetric N-agent MAILP: first step with all ``I_i >= 1 - epsilon``.

    Every agent starts with ``I_{i,env}(0) = I_env0`` (default ``(1 - epsilon) C_env``, the
    theorem's "full knowledge of the environment") and ``I_{i,j}(0) = I0`` about every other
    agent; every pair has coordination ``C_star`` and centralization ``K``. ``K_env`` is the
    rate at which environment information is learned; the default 0 keeps it at ``I_env0``
    as in the proof of Theorem 2 (``K_env > 0`` leaves the theorem's setting). All N
    agents and N(N - 1) pairs are simulated with :func:`mailp_step` (eqs. 1-3). Raises
    :class:`NotConvergedError` after ``max_steps`` steps.
    """
    N, C_env, C_star = coordination(N, C_env, C_star)
    K = _K(K, "K")
    epsilon = _epsilon(epsilon)
    I0 = _pair_I0(I0, C_star)
    K_env = _number(K_env, "K_env", 0.0, 1.0)
    I_env0 = (1.0 - epsilon) * C_env if I_env0 is None else _number(I_env0, "I_env0", 0.0, C_env)
    max_steps = _integer(max_steps, "max_steps", 1)
    off = 1.0 - np.eye(N)
    state = MAILPState(env=np.full(N, I_env0), pair=I0 * off)
    kw = dict(
        C_env=np.full(N, C_env),
        C_pair=C_star * off,
        K_env=np.full(N, K_env),
        K_pair=K * off,
        Lambda=Lambda or identity,
    )
    return _first_step(state, epsilon, max_steps, step_kwargs=kw, what=f"{N} agents (K = {K:g})")


# ---------------------------------------------------------------- settings
def _check_spec(s: dict[str, Any], prefix: str = "theory.") -> None:
    unknown = sorted(set(s) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"unknown setting; known: {', '.join(sorted(DEFAULTS))}", key=prefix + unknown[0]
        )
    N, _, C_star = coordination(s["N"], s["C_env"], s["C_star"], prefix=prefix)
    _epsilon(s["epsilon"], prefix)
    _pair_I0(s["I0"], C_star, prefix)
    if s["K_spacing"] not in ("log", "linear"):
        raise ConfigError(
            f"must be 'log' or 'linear', got {s['K_spacing']!r}", key=prefix + "K_spacing"
        )
    k_min = _K(s["K_min"], prefix + "K_min")
    k_max = _K(s["K_max"], prefix + "K_max")
    if k_min > k_max:
        raise ConfigError(
            f"K_min = {k_min:g} is larger than K_max = {k_max:g}", key=prefix + "K_min"
        )
    _integer(s["K_num"], prefix + "K_num", 1)
    _integer(s["max_steps"], prefix + "max_steps", 1)
    if not isinstance(s["learning_function"], str):
        raise ConfigError(
            f"must be one of {', '.join(LEARNING_FUNCTIONS)}, got {s['learning_function']!r}",
            key=prefix + "learning_function",
        )
    learning_function(s["learning_function"], s["learning_param"], prefix=prefix)


def theory_spec(config: Mapping[str, Any]) -> dict[str, Any]:
    """The theory settings: ``config["theory"]`` over :data:`DEFAULTS`, checked, key-sorted.

    Plain JSON values only (the workflow passes them to ``psmarl theory --spec``). Raises
    ConfigError with key ``theory.<name>`` for an unknown or invalid setting.
    """
    given = (config or {}).get("theory") or {}
    if not isinstance(given, Mapping):
        raise ConfigError(f"must be a mapping, got {type(given).__name__}", key="theory")
    spec = {**DEFAULTS, **dict(given)}
    _check_spec(spec)
    return {k: spec[k] for k in sorted(spec)}


def k_grid(spec: Mapping[str, Any]) -> np.ndarray:
    """The K_* values of a spec: ``K_num`` points from ``K_min`` to ``K_max`` (inclusive)."""
    lo, hi, n = float(spec["K_min"]), float(spec["K_max"]), int(spec["K_num"])
    if n == 1:
        return np.array([hi])
    grid = np.geomspace(lo, hi, n) if spec["K_spacing"] == "log" else np.linspace(lo, hi, n)
    grid[0], grid[-1] = lo, hi
    return np.unique(grid)


# ---------------------------------------------------------------- table and figure
def compute_table(spec: Mapping[str, Any], log: Callable[[str], None] | None = None):
    """The tidy long table of :func:`run` (columns :data:`CSV_COLUMNS`), one row per value.

    ``quantity`` (see :data:`QUANTITIES`) and ``setting`` (``multi_agent`` or
    ``single_agent``) say what ``value`` is; ``K`` is ``K_*`` for multi-agent rows and
    ``K_env`` for single-agent rows (which are computed on the same grid, ``C_env = 1``,
    ``N = 1``, no ``C_star``). Bounds are real numbers of steps, simulated values integers.
    """
    import pandas as pd

    spec = theory_spec({"theory": dict(spec)})
    log = log or (lambda m: None)
    N, C_env, C_star = coordination(spec["N"], spec["C_env"], spec["C_star"])
    eps, I0, max_steps = float(spec["epsilon"]), float(spec["I0"]), int(spec["max_steps"])
    Lambda = learning_function(spec["learning_function"], spec["learning_param"])
    common = dict(
        epsilon=eps,
        I0=I0,
        learning_function=spec["learning_function"],
        learning_param=float(spec["learning_param"]),
    )
    multi = dict(setting="multi_agent", N=N, C_env=C_env, C_star=C_star, **common)
    single = dict(setting="single_agent", N=1, C_env=1.0, C_star=float("nan"), **common)
    rows = []
    for K in k_grid(spec):
        K = float(K)
        bound = theorem2_bound(K, N, C_env, eps, I0, C_star)
        steps = simulate_multi_agent(K, N, C_env, eps, I0, C_star, Lambda, max_steps=max_steps)
        rows.append(dict(quantity="theorem2_bound", K=K, value=bound, **multi))
        rows.append(dict(quantity="multi_agent_simulated", K=K, value=float(steps), **multi))
        rows.append(
            dict(quantity="theorem1_bound", K=K, value=theorem1_bound(K, I0, eps), **single)
        )
        rows.append(
            dict(
                quantity="single_agent_simulated",
                K=K,
                value=float(simulate_single_agent(K, I0, eps, Lambda, max_steps=max_steps)),
                **single,
            )
        )
        log(f"K = {K:.6g}: Theorem 2 bound {bound:.6g}, simulated {steps} steps")
    limit = theorem3_limit(N, C_env, eps, I0, C_star)
    rows.append(dict(quantity="theorem3_limit", K=1.0, value=limit, **multi))
    log(f"Theorem 3 limit (K -> 1): {limit:.6g} steps")
    df = pd.DataFrame(rows, columns=CSV_COLUMNS)
    order = {q: i for i, q in enumerate(QUANTITIES)}
    df = df.sort_values(
        ["quantity", "K"], key=lambda c: c.map(order) if c.name == "quantity" else c, kind="stable"
    )
    return df.reset_index(drop=True)


def _save_atomic(fig, path: str | os.PathLike, fmt: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp.{fmt}", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the figure normal permissions
    try:
        fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def draw_figure(
    df, spec: Mapping[str, Any], png_path: str | os.PathLike, pdf_path: str | os.PathLike
) -> None:
    """Figure 1: Theorem 2's bound against K_* (log-log) with the simulated convergence steps.

    Also drawn: Theorem 3's limit (K_* -> 1) and Theorem 1's single-agent steps at
    ``K_env = K_*`` for comparison. Non-positive values cannot be shown on the log axis
    and are left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    def series(q):
        d = df[(df["quantity"] == q) & (df["value"] > 0)]
        return d["K"].to_numpy(), d["value"].to_numpy()

    lam = spec["learning_function"]
    lam_txt = {
        "identity": r"$\Lambda(x)=x$",
        "scaled": rf"$\Lambda(x)={float(spec['learning_param']):g}\,x$",
        "power": rf"$\Lambda(x)=x^{{{float(spec['learning_param']):g}}}$",
    }[lam]
    N, C_env, C_star = coordination(spec["N"], spec["C_env"], spec["C_star"])
    sns.set_theme(style="whitegrid", context="notebook")
    pal = sns.color_palette("deep")
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    # the bounds are closed forms: draw them on a dense grid so the curves are smooth
    ks = df.loc[df["quantity"] == "theorem2_bound", "K"]
    lo, hi = float(ks.min()), float(ks.max())
    dense = np.geomspace(lo, hi, 400) if lo < hi else np.array([hi])
    eps, I0 = float(spec["epsilon"]), float(spec["I0"])
    t2 = np.array([theorem2_bound(k, N, C_env, eps, I0, C_star) for k in dense])
    t1 = np.array([theorem1_bound(k, I0, eps) for k in dense])
    x, y = series("multi_agent_simulated")
    ax.plot(
        x,
        y,
        "o-",
        color=pal[1],
        ms=4.5,
        lw=1,
        zorder=3,
        label=f"simulated MAILP, {N} agents (eqs. 1-3, {lam_txt})",
    )
    ax.plot(
        dense[t2 > 0],
        t2[t2 > 0],
        "-",
        color=pal[0],
        lw=2.4,
        zorder=2,
        label=r"Theorem 2 lower bound $t^*$",
    )
    ax.plot(
        dense[t1 > 0],
        t1[t1 > 0],
        "--",
        color="0.15",
        lw=1.0,
        zorder=4,
        label=r"single agent, Theorem 1 ($\mathcal{K}_{env}=\mathcal{K}_*$)",
    )
    lim = df.loc[df["quantity"] == "theorem3_limit", "value"]
    if len(lim) and float(lim.iloc[0]) > 0:
        v = float(lim.iloc[0])
        ax.axhline(
            v,
            color=pal[2],
            ls=":",
            lw=1.8,
            zorder=1,
            label=rf"Theorem 3: $t^*\to{v:.3g}$ as $\mathcal{{K}}_*\to 1$",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"centralization coefficient $\mathcal{K}_*$ (1 = parameter sharing)")
    ax.set_ylabel(r"steps until $\mathcal{I}_i \geq 1-\epsilon$")
    ax.set_title(
        "MAILP convergence time vs. centralization (Figure 1)\n"
        rf"$N={N}$, $\mathcal{{C}}_{{env}}={C_env:g}$, $\mathcal{{C}}_*={C_star:.4g}$, "
        rf"$\epsilon={float(spec['epsilon']):g}$, "
        rf"$\mathcal{{I}}^0={float(spec['I0']):g}$",
        fontsize="medium",
    )
    ax.legend(loc="lower left", fontsize="small", frameon=True, framealpha=0.95)
    fig.tight_layout()
    try:
        _save_atomic(fig, png_path, "png")
        _save_atomic(fig, pdf_path, "pdf")
    finally:
        plt.close(fig)


def run(
    spec: Mapping[str, Any],
    csv_path: str | os.PathLike,
    png_path: str | os.PathLike,
    pdf_path: str | os.PathLike,
    log: Callable[[str], None] | None = None,
):
    """Compute the theory table for ``spec`` (partial settings are merged over DEFAULTS),
    write it to ``csv_path`` and Figure 1 to ``png_path`` and ``pdf_path``, each atomically.
    Returns the table."""
    from psmarl.results import write_csv_atomic

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"the spec must be a JSON object, got {type(spec).__name__}", key="theory"
        )
    spec = theory_spec({"theory": dict(spec)})
    log("MAILP theory with " + ", ".join(f"{k}={v}" for k, v in spec.items()))
    df = compute_table(spec, log=log)
    write_csv_atomic(csv_path, df)
    draw_figure(df, spec, png_path, pdf_path)
    log(f"wrote {csv_path}, {png_path}, {pdf_path}")
    return df


# ---------------------------------------------------------------- CLI
def _cmd_theory(a) -> None:
    run(a.spec if a.spec is not None else {}, a.csv, a.png, a.pdf)


def add_cli(add: Callable) -> None:
    """Register ``psmarl theory`` with the CLI's ``add(name, fn, help_, desc)``."""
    from psmarl.cli_args import json_arg

    keys = ", ".join(f"{k}={v}" for k, v in DEFAULTS.items())
    sp = add(
        "theory",
        _cmd_theory,
        "MAILP bounds (Theorems 1-3), simulated convergence times and Figure 1",
        "Compute the bounds of Theorems 1, 2 and 3 of Section 3 on a grid of the "
        "centralization coefficient K_*, simulate the MAILP update equations (1)-(3) "
        "for the same parameters, and write a tidy CSV and Figure 1 (PNG and PDF). "
        f"Defaults (Figure 1): {keys}.",
    )
    sp.add_argument(
        "--spec",
        type=json_arg,
        default=None,
        help="theory settings as a JSON object or @file; missing keys take the "
        "defaults (see psmarl.theory.theory_spec)",
    )
    sp.add_argument("--csv", required=True, help="tidy table of bounds and simulated steps")
    sp.add_argument("--png", required=True, help="Figure 1 as PNG")
    sp.add_argument("--pdf", required=True, help="Figure 1 as PDF")
