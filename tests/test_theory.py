"""MAILP theory (Section 3): the theorems checked against the simulator of eqs. (1)-(3)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from psmarl import theory
from psmarl.errors import ConfigError

FIG1 = dict(N=3, C_env=0.1, epsilon=0.001, I0=0.01)  # the paper's Figure 1
GRID = np.geomspace(0.01, 1.0, 13)
FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# ---------------------------------------------------------------- Theorem 1
@pytest.mark.parametrize("K_env", [0.01, 0.05, 0.1, 0.3, 0.5, 0.77, 0.9, 0.99])
@pytest.mark.parametrize("I0,eps", [(0.01, 0.001), (0.0, 0.01), (0.5, 1e-5), (0.9, 0.05)])
def test_theorem1_is_exact_for_identity(K_env, I0, eps):
    bound = theory.theorem1_bound(K_env, I0, eps)
    steps = theory.simulate_single_agent(K_env, I0, eps)
    if abs(bound - round(bound)) < 1e-9:
        # an integer bound (K_env = 0.99, I0 = 0, eps = 0.01: t* = 1) means I(t*) = 1 - eps
        # exactly, which floating point cannot decide (0.99 and 0.01 are not exact binary
        # numbers): either neighbouring step is right
        assert steps in (round(bound), round(bound) + 1)
    else:
        assert steps == max(0, math.ceil(bound))


@FAST
@given(K_env=st.floats(0.01, 0.99), I0=st.floats(0.0, 0.95), eps=st.floats(1e-6, 0.2))
def test_theorem1_is_exact_for_identity_property(K_env, I0, eps):
    assume(I0 < 1 - eps)
    bound = theory.theorem1_bound(K_env, I0, eps)
    assume(abs(bound - round(bound)) > 1e-6 * max(1.0, bound))  # no float ties at integers
    assert theory.simulate_single_agent(K_env, I0, eps) == math.ceil(bound)


def test_theorem1_at_full_rate_is_its_limit():
    # K_env = 1: log(1 - K_env) = -inf, the bound is 0 and one step learns everything
    assert theory.theorem1_bound(1.0, 0.01, 0.001) == 0.0
    assert theory.simulate_single_agent(1.0, 0.01, 0.001) == 1


@FAST
@given(
    K_env=st.floats(0.05, 1.0),
    I0=st.floats(0.0, 0.9),
    eps=st.floats(1e-3, 0.2),
    name_param=st.sampled_from([("scaled", 0.3), ("scaled", 0.9), ("power", 1.5), ("power", 2.0)]),
)
def test_theorem1_bounds_slower_learning_functions(K_env, I0, eps, name_param):
    Lambda = theory.learning_function(*name_param)
    steps = theory.simulate_single_agent(K_env, I0, eps, Lambda, max_steps=200_000)
    assert steps >= theory.theorem1_bound(K_env, I0, eps)


# ---------------------------------------------------------------- Theorem 2
@pytest.mark.parametrize("K", GRID)
def test_simulation_never_beats_theorem2_on_figure1_grid(K):
    steps = theory.simulate_multi_agent(K, **FIG1)
    assert steps >= theory.theorem2_bound(K, **FIG1)


@pytest.mark.parametrize("K", [0.05, 0.3, 1.0])
@pytest.mark.parametrize(
    "params",
    [
        dict(N=2, C_env=0.1, epsilon=0.001, I0=0.01),
        dict(N=5, C_env=0.2, epsilon=0.01, I0=0.1),
        dict(N=4, C_env=0.05, epsilon=0.001, I0=0.0),
        dict(N=3, C_env=0.4, epsilon=0.05, I0=0.25),
    ],
)
@pytest.mark.parametrize("Lambda", [("identity", 1.0), ("scaled", 0.5)])
def test_simulation_never_beats_theorem2(K, params, Lambda):
    steps = theory.simulate_multi_agent(K, **params, Lambda=theory.learning_function(*Lambda))
    assert steps >= theory.theorem2_bound(K, **params)


@FAST
@given(
    N=st.integers(2, 5),
    C_env=st.floats(0.05, 0.6),
    K=st.floats(0.1, 1.0),
    eps=st.floats(1e-4, 0.1),
    frac=st.floats(0.0, 0.95),
)
def test_simulation_never_beats_theorem2_property(N, C_env, K, eps, frac):
    C_star = (1 - C_env) / (N - 1)
    I0 = frac * C_star
    steps = theory.simulate_multi_agent(K, N, C_env, eps, I0, max_steps=200_000)
    assert steps >= theory.theorem2_bound(K, N, C_env, eps, I0)


def test_theorem2_approaches_theorem3_as_K_goes_to_1():
    limit = theory.theorem3_limit(**FIG1)
    gaps = [
        abs(theory.theorem2_bound(1 - d, **FIG1) - limit) for d in (1e-1, 1e-2, 1e-3, 1e-5, 1e-8)
    ]
    assert all(a > b for a, b in zip(gaps, gaps[1:]))
    assert gaps[-1] < 1e-6
    assert theory.theorem2_bound(1.0, **FIG1) == pytest.approx(limit, rel=1e-12)


@FAST
@given(
    N=st.integers(2, 10),
    C_env=st.floats(0.0, 0.9),
    eps=st.floats(1e-6, 0.5),
    frac=st.floats(1e-3, 0.99),
)
def test_theorem3_is_theorem2_at_K_1(N, C_env, eps, frac):
    C_star = (1 - C_env) / (N - 1)
    I0 = frac * C_star
    limit = theory.theorem3_limit(N, C_env, eps, I0)
    # the middle form of the proof: log(I0 / (C_env/(n-1) + 2 C_*)) in the denominator
    middle = math.log(C_star * eps / (C_star - I0)) / math.log(I0 / (C_env / (N - 1) + 2 * C_star))
    assert limit == pytest.approx(middle, rel=1e-9, abs=1e-12)
    assert theory.theorem2_bound(1 - 1e-10, N, C_env, eps, I0) == pytest.approx(
        limit, rel=1e-6, abs=1e-9
    )


def test_theorem2_bound_grows_as_K_shrinks():
    bounds = [theory.theorem2_bound(K, **FIG1) for K in GRID]
    assert all(a > b for a, b in zip(bounds, bounds[1:]))


@FAST
@given(
    N=st.integers(2, 10),
    C_env=st.floats(0.0, 0.9),
    eps=st.floats(1e-6, 0.5),
    frac=st.floats(0.0, 0.99),
    K1=st.floats(1e-4, 1.0),
    K2=st.floats(1e-4, 1.0),
)
def test_theorem2_bound_grows_as_K_shrinks_property(N, C_env, eps, frac, K1, K2):
    C_star = (1 - C_env) / (N - 1)
    I0 = frac * C_star
    assume(I0 < C_star * (1 - eps))  # otherwise the agents start converged (bound <= 0)
    lo, hi = sorted((K1, K2))
    assume(hi - lo > 1e-6)
    assert theory.theorem2_bound(lo, N, C_env, eps, I0) > theory.theorem2_bound(
        hi, N, C_env, eps, I0
    )


def test_figure1_numbers():
    assert theory.theorem3_limit(**FIG1) == pytest.approx(1.51196, abs=1e-5)
    assert theory.theorem2_bound(0.001, **FIG1) == pytest.approx(7022.23, abs=0.01)
    assert theory.theorem2_bound(0.1, **FIG1) == pytest.approx(66.638, abs=1e-3)
    assert theory.simulate_multi_agent(1.0, **FIG1) == 28


# ---------------------------------------------------------------- the simulator itself
def _trajectory(K, N, C_env, eps, I0, steps, Lambda=theory.identity):
    C_star = (1 - C_env) / (N - 1)
    off = 1 - np.eye(N)
    state = theory.MAILPState(env=np.full(N, (1 - eps) * C_env), pair=I0 * off)
    kw = dict(
        C_env=np.full(N, C_env),
        C_pair=C_star * off,
        K_env=np.zeros(N),
        K_pair=K * off,
        Lambda=Lambda,
    )
    out = [state]
    for _ in range(steps):
        state = theory.mailp_step(state, **kw)
        out.append(state)
    return out, C_star


@pytest.mark.parametrize("Lambda", [theory.identity, theory.learning_function("power", 2.0)])
def test_simulator_follows_the_reduced_recursion_of_appendix_a1(Lambda):
    # Appendix A.1: Delta I_** = K Lambda(C_* - I_**) (1 - Phi),
    # Phi = I_** / (I_env/(n-1) + I_** + K Lambda(C_* - I_**)) (I_env = (1 - eps) C_env here)
    K, N, C_env, eps, I0 = 0.3, 4, 0.1, 0.001, 0.02
    states, C_star = _trajectory(K, N, C_env, eps, I0, 200, Lambda)
    I_env = (1 - eps) * C_env
    x = I0
    for s in states:
        off = s.pair[~np.eye(N, dtype=bool)]
        assert np.allclose(off, x, rtol=1e-12, atol=1e-15)  # all pairs identical
        assert np.allclose(s.env, I_env)  # environment knowledge stays as in the theorem
        assert np.all(off <= C_star + 1e-15)
        assert np.allclose(s.totals(), I_env + (N - 1) * x)  # eq. (3)
        lam = float(Lambda(np.array(C_star - x)))
        phi = x / (I_env / (N - 1) + x + K * lam)
        x = x + K * lam * (1 - phi)


def test_information_never_decreases_and_stays_below_one():
    states, _ = _trajectory(0.7, 3, 0.1, 0.001, 0.01, 300)
    totals = np.array([s.totals() for s in states])
    assert np.all(np.diff(totals, axis=0) >= -1e-15)
    assert np.all(totals <= 1.0)


def test_nonstationarity_slows_learning():
    # the only difference to a single agent is the stale-knowledge term (2): without it the
    # pair information would follow Lemma 1 with equality and converge much sooner
    steps = theory.simulate_multi_agent(0.1, **FIG1)
    free = math.ceil(math.log(FIG1["epsilon"] * 0.45 / (0.45 - 0.01)) / math.log(1 - 0.1))
    assert steps > 5 * free


# ---------------------------------------------------------------- bad input
BAD = [
    (
        "C_star",
        lambda: theory.theorem2_bound(0.5, 3, 0.1, 0.001, 0.01, C_star=0.4),
        "C_env + (N - 1)",
    ),
    (
        "C_star",
        lambda: theory.simulate_multi_agent(0.5, 3, 0.1, 0.001, 0.01, C_star=0.5),
        "equal 1",
    ),
    ("C_star", lambda: theory.theorem3_limit(3, 0.1, 0.001, 0.01, C_star=1.5), "[0, 1]"),
    ("C_env", lambda: theory.theorem2_bound(0.5, 3, 1.5, 0.001, 0.01), "[0, 1]"),
    ("C_env", lambda: theory.theorem2_bound(0.5, 3, -0.1, 0.001, 0.01), "[0, 1]"),
    ("C_env", lambda: theory.theorem2_bound(0.5, 3, 1.0, 0.001, 0.01), "C_star"),
    ("epsilon", lambda: theory.theorem2_bound(0.5, 3, 0.1, 0.0, 0.01), "(0, 1)"),
    ("epsilon", lambda: theory.theorem1_bound(0.5, 0.01, -0.001), "(0, 1)"),
    ("epsilon", lambda: theory.simulate_single_agent(0.5, 0.01, 1.0), "(0, 1)"),
    ("N", lambda: theory.theorem2_bound(0.5, 1, 0.1, 0.001, 0.01), "N >= 2"),
    ("N", lambda: theory.simulate_multi_agent(0.5, 1, 0.1, 0.001, 0.01), "N >= 2"),
    ("N", lambda: theory.theorem3_limit(2.5, 0.1, 0.001, 0.01), "integer"),
    ("N", lambda: theory.theorem3_limit(True, 0.1, 0.001, 0.01), "integer"),
    ("K", lambda: theory.theorem2_bound(0.0, 3, 0.1, 0.001, 0.01), "(0, 1]"),
    ("K", lambda: theory.theorem2_bound(1.2, 3, 0.1, 0.001, 0.01), "(0, 1]"),
    ("K", lambda: theory.simulate_multi_agent(float("nan"), 3, 0.1, 0.001, 0.01), "(0, 1]"),
    ("K_env", lambda: theory.theorem1_bound(0.0, 0.01, 0.001), "(0, 1]"),
    ("K_env", lambda: theory.simulate_single_agent(-0.5, 0.01, 0.001), "(0, 1]"),
    ("I0", lambda: theory.theorem1_bound(0.5, 1.0, 0.001), "[0, 1)"),
    ("I0", lambda: theory.theorem2_bound(0.5, 3, 0.1, 0.001, -0.01), "[0, 1]"),
    ("I0", lambda: theory.theorem2_bound(0.5, 3, 0.1, 0.001, 0.45), "below C_star"),
    ("I0", lambda: theory.theorem3_limit(3, 0.1, 0.001, "0.01"), "number"),
    (
        "Lambda",
        lambda: theory.simulate_single_agent(0.5, 0.01, 0.001, lambda x: 2 * x),
        "Lambda(x) <= x",
    ),
    (
        "Lambda",
        lambda: theory.simulate_multi_agent(0.5, 3, 0.1, 0.001, 0.01, Lambda=lambda x: x - 0.5),
        "0 <=",
    ),
    ("Lambda", lambda: theory.simulate_single_agent(0.5, 0.01, 0.001, lambda x: 0 * x), "stopped"),
    (
        "max_steps",
        lambda: theory.simulate_multi_agent(0.01, 3, 0.1, 0.001, 0.01, max_steps=100),
        "max_steps = 100",
    ),
    ("max_steps", lambda: theory.simulate_single_agent(0.5, 0.01, 0.001, max_steps=0), ">= 1"),
    ("learning_function", lambda: theory.learning_function("cubic"), "identity"),
    ("learning_param", lambda: theory.learning_function("scaled", 1.5), "(0, 1]"),
    ("learning_param", lambda: theory.learning_function("power", 0.5), "[1, inf]"),
]


@pytest.mark.parametrize("key,call,text", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_parameter(key, call, text):
    with pytest.raises(ConfigError) as e:
        call()
    assert e.value.key == key
    assert str(e.value).startswith(f"{key}: ")
    assert text in str(e.value)


BAD_SPEC = [
    ({"N": 1}, "theory.N"),
    ({"C_env": 1.2}, "theory.C_env"),
    ({"C_star": 0.3}, "theory.C_star"),
    ({"epsilon": 0}, "theory.epsilon"),
    ({"I0": 0.5}, "theory.I0"),
    ({"K_min": 0}, "theory.K_min"),
    ({"K_max": 2}, "theory.K_max"),
    ({"K_min": 0.5, "K_max": 0.1}, "theory.K_min"),
    ({"K_num": 0}, "theory.K_num"),
    ({"K_spacing": "cubic"}, "theory.K_spacing"),
    ({"learning_function": "relu"}, "theory.learning_function"),
    ({"learning_function": "scaled", "learning_param": 0}, "theory.learning_param"),
    ({"max_steps": -1}, "theory.max_steps"),
    ({"n_agents": 3}, "theory.n_agents"),
]


@pytest.mark.parametrize("block,key", BAD_SPEC, ids=[b[1] + str(i) for i, b in enumerate(BAD_SPEC)])
def test_bad_theory_config_names_the_key(block, key):
    with pytest.raises(ConfigError) as e:
        theory.theory_spec({"theory": block})
    assert e.value.key == key


@pytest.mark.parametrize("block", [{"N": 1}, {"C_env": 1.2}, {"K_spacing": "cubic"}, {"foo": 1}])
def test_schema_rejects_bad_theory_block(tiny_config, block):
    from psmarl import config as cfg

    with pytest.raises(ConfigError) as e:
        cfg.schema_validate({**tiny_config, "theory": block})
    assert "theory" in str(e.value)


# ---------------------------------------------------------------- settings, run, CLI
def test_theory_spec_defaults_are_figure1_and_plain():
    spec = theory.theory_spec({})
    assert list(spec) == sorted(spec)
    assert {k: spec[k] for k in ("N", "C_env", "epsilon", "I0")} == FIG1
    assert spec["learning_function"] == "identity"
    assert json.loads(json.dumps(spec)) == spec
    assert theory.theory_spec({"theory": None}) == spec
    assert theory.theory_spec({"theory": {"N": 4}})["N"] == 4


@pytest.mark.parametrize("name", ["config/config.yaml", "config/paper.yaml"])
def test_shipped_configs_have_figure1_theory(name):
    from psmarl import config as cfg

    c = cfg.load(REPO / name)
    cfg.schema_validate(c)
    assert theory.theory_spec(c) == theory.theory_spec({})


def test_k_grid():
    g = theory.k_grid(theory.theory_spec({}))
    assert len(g) == 31 and g[0] == 0.001 and g[-1] == 1.0 and np.all(np.diff(g) > 0)
    lin = theory.k_grid({"K_min": 0.2, "K_max": 1.0, "K_num": 5, "K_spacing": "linear"})
    assert np.allclose(lin, [0.2, 0.4, 0.6, 0.8, 1.0])
    assert list(theory.k_grid({"K_min": 0.2, "K_max": 0.7, "K_num": 1, "K_spacing": "log"})) == [
        0.7
    ]


SMALL = {"K_min": 0.05, "K_max": 1.0, "K_num": 4}


def test_run_writes_csv_png_pdf(tmp_path):
    out = tmp_path / "sub"
    df = theory.run(SMALL, out / "t.csv", out / "f.png", out / "f.pdf", log=lambda m: None)
    table = pd.read_csv(out / "t.csv")
    assert list(table.columns) == theory.CSV_COLUMNS
    assert set(table["quantity"]) == set(theory.QUANTITIES)
    assert len(table) == 4 * 4 + 1 and len(df) == len(table)
    multi = table[table["setting"] == "multi_agent"]
    assert set(multi["N"]) == {3} and set(multi["C_star"]) == {0.45}
    wide = multi.pivot_table(index="K", columns="quantity", values="value")
    assert (wide["multi_agent_simulated"] >= wide["theorem2_bound"]).all()
    single = table[table["setting"] == "single_agent"].pivot_table(
        index="K", columns="quantity", values="value"
    )
    k = single.index < 1
    assert (single["single_agent_simulated"][k] == np.ceil(single["theorem1_bound"][k])).all()
    assert (out / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "f.pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in out.iterdir()) == ["f.pdf", "f.png", "t.csv"]  # no temp files


def test_cli_theory(tmp_path, capsys):
    from psmarl.cli import main

    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {**SMALL, "K_spacing": "linear", "learning_function": "scaled", "learning_param": 0.5}
        )
    )
    rc = main(
        [
            "theory",
            "--spec",
            f"@{spec}",
            "--csv",
            str(tmp_path / "a.csv"),
            "--png",
            str(tmp_path / "a.png"),
            "--pdf",
            str(tmp_path / "a.pdf"),
        ]
    )
    assert rc == 0
    table = pd.read_csv(tmp_path / "a.csv")
    assert set(table["learning_function"]) == {"scaled"}
    rc = main(
        [
            "theory",
            "--spec",
            '{"N": 1}',
            "--csv",
            str(tmp_path / "b.csv"),
            "--png",
            str(tmp_path / "b.png"),
            "--pdf",
            str(tmp_path / "b.pdf"),
        ]
    )
    assert rc == 2
    assert "theory.N" in capsys.readouterr().err
    assert not (tmp_path / "b.csv").exists()
