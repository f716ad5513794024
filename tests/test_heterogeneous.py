"""Heterogeneous agents (Section 5, Appendix A.2): padding, agent indication, action rule.

The property tests run the real wrapper stack (``apply_standard_wrappers``) over a toy
PettingZoo parallel env whose spaces and observations hypothesis chooses; the unit tests
use MPE speaker_listener and SISL envs. No training here.
"""

from __future__ import annotations

import copy
from collections import defaultdict

import numpy as np
import pytest
from gymnasium.spaces import Box, Discrete
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pettingzoo.utils.env import ParallelEnv

from psmarl import config as cfg
from psmarl import envs
from psmarl.envs.spec import EnvSpec, Preset
from psmarl.envs.wrappers import (
    apply_standard_wrappers,
    padded_action_space,
    real_action_spaces,
    shared_policy_problem,
    trim_action,
)
from psmarl.errors import ConfigError

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- a toy env
class ToyEnv(ParallelEnv):
    """Agents with the given spaces; reset and step return ``self.observations``."""

    metadata = {"name": "toy_v0", "is_parallelizable": True, "render_modes": []}

    def __init__(self, obs_spaces, act_spaces, observations=None):
        self.possible_agents = list(obs_spaces)
        self.agents = list(self.possible_agents)
        self._obs, self._act = dict(obs_spaces), dict(act_spaces)
        self.observations = observations or {a: s.sample() for a, s in self._obs.items()}
        self.received: list[dict] = []
        self.render_mode = None

    def observation_space(self, agent):
        return self._obs[agent]

    def action_space(self, agent):
        return self._act[agent]

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        return ({a: self.observations[a] for a in self.agents}, {a: {} for a in self.agents})

    def step(self, actions):
        self.received.append(dict(actions))
        obs = {a: self.observations[a] for a in self.agents}
        zero = {a: 0.0 for a in self.agents}
        false = {a: False for a in self.agents}
        return obs, zero, false, dict(false), {a: {} for a in self.agents}

    def close(self):
        pass


def toy(obs_vectors, act_spaces=None):
    """A ToyEnv whose agent ``a<i>`` always observes ``obs_vectors[i]`` (a float vector)."""
    agents = [f"a{i}" for i in range(len(obs_vectors))]
    obs = {a: np.asarray(v, dtype=np.float32) for a, v in zip(agents, obs_vectors)}
    spaces = {a: Box(-np.inf, np.inf, shape=o.shape, dtype=np.float32) for a, o in obs.items()}
    acts = act_spaces or [Discrete(2)] * len(agents)
    return ToyEnv(spaces, dict(zip(agents, acts)), obs)


def wrapped_obs(obs_vectors, indication="none", pad=True):
    env = apply_standard_wrappers(
        toy(obs_vectors), agent_indication=indication, pad_observations=pad
    )
    obs, _ = env.reset(seed=0)
    return [np.asarray(obs[a]) for a in env.possible_agents], env


# ---------------------------------------------------------------- strategies
values = st.floats(-5, 5, allow_nan=False, width=32)
# few distinct values, so observations of different agents often coincide when padded
small_values = st.sampled_from([0.0, 1.0, -1.0])


@st.composite
def observations(draw, elements=values, max_agents=4, max_size=6):
    n = draw(st.integers(1, max_agents))
    sizes = draw(st.lists(st.integers(1, max_size), min_size=n, max_size=n))
    return [draw(st.lists(elements, min_size=k, max_size=k)) for k in sizes]


@st.composite
def action_spaces(draw):
    n = draw(st.integers(1, 4))
    if draw(st.booleans()):
        return [Discrete(draw(st.integers(1, 7))) for _ in range(n)]
    out = []
    for _ in range(n):
        d = draw(st.integers(1, 5))
        low = np.array(
            draw(st.lists(st.floats(-3, 2, width=32), min_size=d, max_size=d)), dtype=np.float32
        )
        width = np.array(
            draw(st.lists(st.floats(0, 3, width=32), min_size=d, max_size=d)), dtype=np.float32
        )
        out.append(Box(low, low + width, dtype=np.float32))
    return out


# ---------------------------------------------------------------- properties
@PROPS
@given(observations(), st.sampled_from(["none", "scalar", "onehot"]))
def test_padding_keeps_the_observation_as_prefix_and_adds_only_zeros(obs_vectors, indication):
    padded, env = wrapped_obs(obs_vectors, indication)
    n = len(obs_vectors)
    width = max(len(v) for v in obs_vectors)
    tail = {"none": 0, "scalar": 1, "onehot": n}[indication]
    for i, (raw, p) in enumerate(zip(obs_vectors, padded)):
        assert p.shape == (width + tail,)  # every agent: one size
        assert env.observation_space(f"a{i}").contains(p)
        np.testing.assert_array_equal(p[: len(raw)], np.asarray(raw, np.float32))
        assert not p[len(raw) : width].any()  # only zeros added
        if indication == "scalar":
            assert p[-1] == i
        elif indication == "onehot":
            np.testing.assert_array_equal(p[width:], np.eye(n)[i])


@PROPS
@given(observations(elements=small_values), st.sampled_from(["scalar", "onehot"]))
def test_with_indication_no_two_agents_share_a_padded_observation(obs_vectors, indication):
    padded, _ = wrapped_obs(obs_vectors, indication)
    for i in range(len(padded)):
        for j in range(i + 1, len(padded)):
            assert not np.array_equal(padded[i], padded[j])


def test_without_indication_padded_observations_can_coincide():
    # why Theorem 5's indication is needed: (1) and (1, 0) pad to the same vector
    padded, _ = wrapped_obs([[1.0], [1.0, 0.0]], "none")
    np.testing.assert_array_equal(padded[0], padded[1])
    padded, _ = wrapped_obs([[1.0], [1.0, 0.0]], "scalar")
    assert not np.array_equal(padded[0], padded[1])


@PROPS
@given(action_spaces(), st.integers(0, 2**31 - 1))
def test_a_padded_action_is_always_valid_for_its_agent(spaces, seed):
    padded = padded_action_space(spaces)
    padded.seed(seed)
    env_toy = toy([[0.0]] * len(spaces), spaces)
    env = apply_standard_wrappers(env_toy, pad_actions=True)
    env.reset(seed=0)
    agents = list(env.possible_agents)
    assert all(env.action_space(a) == padded for a in agents)
    assert real_action_spaces(env) == dict(zip(agents, spaces))
    for _ in range(5):
        actions = {a: padded.sample() for a in agents}
        env.step(actions)
        got = env_toy.received[-1]
        for a, real in zip(agents, spaces):
            assert real.contains(got[a]), (a, actions[a], got[a], real)
            assert trim_action(actions[a], real) == pytest.approx(got[a])
            if isinstance(real, Discrete):
                # the rule: kept when valid, else action 0
                assert got[a] == (int(actions[a]) if actions[a] < real.n else 0)
            else:
                # the rule: leading entries kept, clipped to the agent's own bounds
                d = real.shape[0]
                np.testing.assert_allclose(
                    got[a], np.clip(actions[a][:d], real.low, real.high), rtol=0, atol=0
                )


@PROPS
@given(action_spaces(), st.integers(0, 2**31 - 1))
def test_a_real_action_passes_through_unchanged(spaces, seed):
    padded = padded_action_space(spaces)
    for real in spaces:
        real.seed(seed)
        a = real.sample()
        if isinstance(real, Discrete):
            assert trim_action(a, real) == a
        else:
            extra = np.zeros(padded.shape[0] - real.shape[0], np.float32)
            np.testing.assert_array_equal(trim_action(np.concatenate([a, extra]), real), a)


@st.composite
def tabular_game(draw):
    """Per-agent finite observation sets (vectors of different sizes) and tabular policies."""
    n = draw(st.integers(2, 4))
    game = []
    for _ in range(n):
        size = draw(st.integers(1, 3))
        states = draw(
            st.lists(
                st.lists(small_values, min_size=size, max_size=size).map(tuple),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
        n_actions = draw(st.integers(1, 4))
        policy = {}
        for s in states:
            w = np.array(draw(st.lists(st.floats(0.01, 1), min_size=n_actions, max_size=n_actions)))
            policy[s] = w / w.sum()
        game.append((states, n_actions, policy))
    return game


@PROPS
@given(tabular_game(), st.sampled_from(["scalar", "onehot"]))
def test_lemma2_one_shared_table_represents_any_per_agent_policies(game, indication):
    """Lemma 2 + A.2.1: pad + indicate each agent's observations, build one shared table
    over padded observations and padded actions (zeros past an agent's own actions), and
    recover every agent's own policy from it through the action rule."""
    alpha = max(k for _, k, _ in game)
    owner: dict[bytes, tuple[int, tuple]] = {}
    shared: dict[bytes, np.ndarray] = {}

    def padded_key(i, s):
        obs = [list(game[j][0][0]) for j in range(len(game))]
        obs[i] = list(s)
        p, _ = wrapped_obs(obs, indication)
        return p[i].tobytes()

    for i, (states, n_actions, policy) in enumerate(game):
        for s in states:
            key = padded_key(i, s)
            assert key not in owner or owner[key] == (i, s)  # disjoint: Omega^-1 well defined
            owner[key] = (i, s)
            shared[key] = np.pad(policy[s], (0, alpha - n_actions))  # eq. (8)

    spaces = [Discrete(k) for _, k, _ in game]
    for i, (states, n_actions, policy) in enumerate(game):
        for s in states:
            row = shared[padded_key(i, s)]
            assert row.shape == (alpha,) and row.sum() == pytest.approx(1)
            np.testing.assert_allclose(row[:n_actions], policy[s])  # trimmed = pi_i
            # what agent i actually executes under the action rule
            executed = defaultdict(float)
            for a, prob in enumerate(row):
                executed[trim_action(a, spaces[i])] += prob
            np.testing.assert_allclose([executed[a] for a in range(n_actions)], policy[s])


# ---------------------------------------------------------------- speaker_listener
def _raw_speaker_listener(**kw):
    from pettingzoo.mpe import simple_speaker_listener_v4

    return simple_speaker_listener_v4.parallel_env(**kw)


def test_speaker_listener_is_registered_with_both_presets():
    assert "speaker_listener" in envs.names()
    spec = envs.get("speaker_listener")
    assert set(spec.presets) == {"padded", "pettingzoo"}
    s = envs.resolve("speaker_listener")
    assert s["preset"] == "padded"
    assert s["pad_observations"] and s["pad_actions"] and s["agent_indication"] == "scalar"
    assert s["kwargs"] == {"continuous_actions": False, "max_cycles": 25}
    p = envs.resolve("speaker_listener", "pettingzoo")
    assert (p["pad_observations"], p["pad_actions"], p["agent_indication"]) == (
        False,
        False,
        "none",
    )


def test_speaker_listener_padded_spaces_and_observations():
    env = envs.make_parallel_env(envs.resolve("speaker_listener"))
    raw = _raw_speaker_listener(continuous_actions=False, max_cycles=25)
    obs, _ = env.reset(seed=7)
    raw_obs, _ = raw.reset(seed=7)
    assert env.possible_agents == ["speaker_0", "listener_0"]
    for i, a in enumerate(env.possible_agents):
        assert env.observation_space(a).shape == (12,)
        assert env.action_space(a) == Discrete(5)
        n = raw_obs[a].shape[0]
        np.testing.assert_array_equal(obs[a][:n], raw_obs[a])
        assert not obs[a][n:11].any() and obs[a][-1] == i
        assert env.observation_space(a).contains(obs[a])
    assert real_action_spaces(env) == {"speaker_0": Discrete(3), "listener_0": Discrete(5)}
    env.close()
    raw.close()


def test_speaker_listener_padded_speaker_word_maps_to_word_0():
    env = envs.make_parallel_env(envs.resolve("speaker_listener"))
    env.reset(seed=1)
    # speaker says padded word 4 (-> word 0): the listener hears (1, 0, 0) next step
    obs, *_ = env.step({"speaker_0": 4, "listener_0": 0})
    np.testing.assert_array_equal(obs["listener_0"][8:11], [1, 0, 0])
    obs, *_ = env.step({"speaker_0": 2, "listener_0": 0})
    np.testing.assert_array_equal(obs["listener_0"][8:11], [0, 0, 1])
    env.close()


def test_speaker_listener_continuous_actions_are_trimmed():
    s = envs.resolve(
        "speaker_listener", kwargs={"continuous_actions": True}, agent_indication="onehot"
    )
    env = envs.make_parallel_env(s)
    obs, _ = env.reset(seed=0)
    assert all(env.observation_space(a).shape == (13,) for a in env.possible_agents)
    assert all(env.action_space(a) == Box(0, 1, (5,), np.float32) for a in env.possible_agents)
    np.testing.assert_array_equal(obs["speaker_0"][-2:], [1, 0])
    np.testing.assert_array_equal(obs["listener_0"][-2:], [0, 1])
    # the speaker's last two (padded) entries are discarded: its message is the first 3
    obs, *_ = env.step(
        {
            "speaker_0": np.array([0.2, 0.9, 0.1, 1, 1], np.float32),
            "listener_0": np.zeros(5, np.float32),
        }
    )
    np.testing.assert_allclose(obs["listener_0"][8:11], [0.2, 0.9, 0.1])
    env.close()


def test_speaker_listener_unpadded_keeps_library_spaces():
    env = envs.make_parallel_env(envs.resolve("speaker_listener", "pettingzoo"))
    assert env.observation_space("speaker_0").shape == (3,)
    assert env.observation_space("listener_0").shape == (11,)
    assert env.action_space("speaker_0") == Discrete(3)
    env.close()


@pytest.mark.parametrize("ind,size", [("scalar", 4), ("onehot", 5)])
def test_indication_without_padding_on_heterogeneous_observations(ind, size):
    env = envs.make_parallel_env(
        envs.resolve("speaker_listener", "pettingzoo", agent_indication=ind)
    )
    assert env.observation_space("speaker_0").shape == (size,)
    assert env.observation_space("listener_0").shape == (11 + size - 3,)
    env.close()


def test_random_policy_draws_from_each_agents_own_actions():
    from psmarl.evaluate import RandomPolicy

    env = envs.make_parallel_env(envs.resolve("speaker_listener"))
    pol = RandomPolicy(env, 0)
    pol.start_episode(0, 5)
    words = {pol.act("speaker_0", [(0, "speaker_0")], None)[0] for _ in range(200)}
    assert words == {0, 1, 2}
    env.close()


# ---------------------------------------------------------------- SISL: homogeneous agents
def test_padding_is_a_no_op_on_homogeneous_sisl_agents():
    base = envs.resolve("multiwalker", "paper", {"max_cycles": 20})
    pad = envs.resolve(
        "multiwalker", "paper", {"max_cycles": 20}, pad_observations=True, pad_actions=True
    )
    assert pad["pad_observations"] and pad["pad_actions"] and not base["pad_actions"]
    e0, e1 = envs.make_parallel_env(base), envs.make_parallel_env(pad)
    o0, _ = e0.reset(seed=3)
    o1, _ = e1.reset(seed=3)
    for a in e0.possible_agents:
        assert e0.observation_space(a) == e1.observation_space(a)
        assert e0.action_space(a) == e1.action_space(a)
        np.testing.assert_array_equal(o0[a], o1[a])
    # out-of-bounds Box actions are clipped to the agent's bounds under pad_actions
    big = {a: np.full(4, 7.0, np.float32) for a in e0.possible_agents}
    r0 = e0.step({a: np.ones(4, np.float32) for a in e0.possible_agents})
    r1 = e1.step(big)
    for a in e0.possible_agents:
        np.testing.assert_allclose(r0[0][a], r1[0][a], rtol=1e-5, atol=1e-5)
    e0.close()
    e1.close()


def test_pursuit_discrete_padding_and_onehot():
    s = envs.resolve(
        "pursuit",
        "paper",
        {"max_cycles": 5, "n_pursuers": 3},
        agent_indication="onehot",
        pad_observations=True,
        pad_actions=True,
    )
    env = envs.make_parallel_env(s)
    obs, _ = env.reset(seed=0)
    assert env.action_space("pursuer_0") == Discrete(5)
    assert obs["pursuer_2"].shape == (147 + 3,)
    np.testing.assert_array_equal(obs["pursuer_2"][-3:], [0, 0, 1])
    env.close()


# ---------------------------------------------------------------- bad input
_DISCRETE_OBS = "toy_discrete_obs"
_MIXED_ACT = "toy_mixed_actions"


def _register_toys():
    if _DISCRETE_OBS not in envs.names():
        envs.register(
            EnvSpec(
                name=_DISCRETE_OBS,
                module="",
                default_preset="default",
                presets={"default": Preset(kwargs={})},
                constructor=lambda: ToyEnv(
                    {"a": Discrete(3), "b": Discrete(4)}, {"a": Discrete(2), "b": Discrete(2)}
                ),
            )
        )
    if _MIXED_ACT not in envs.names():
        envs.register(
            EnvSpec(
                name=_MIXED_ACT,
                module="",
                default_preset="default",
                presets={"default": Preset(kwargs={})},
                constructor=lambda: ToyEnv(
                    {"a": Box(0, 1, (2,)), "b": Box(0, 1, (3,))},
                    {"a": Discrete(2), "b": Box(0, 1, (2,))},
                ),
            )
        )


@pytest.mark.parametrize(
    "name,opts,key",
    [
        (_DISCRETE_OBS, {"pad_observations": True}, "envs.toy_discrete_obs.pad_observations"),
        (_DISCRETE_OBS, {"agent_indication": "scalar"}, "envs.toy_discrete_obs.agent_indication"),
        (_DISCRETE_OBS, {"agent_indication": "onehot"}, "envs.toy_discrete_obs.agent_indication"),
        (_MIXED_ACT, {"pad_actions": True}, "envs.toy_mixed_actions.pad_actions"),
    ],
)
def test_options_that_cannot_apply_name_the_option(name, opts, key):
    _register_toys()
    with pytest.raises(ConfigError) as e:
        envs.make_parallel_env(envs.resolve(name, **opts))
    assert e.value.key == key and str(e.value).startswith(key)


def test_padding_option_must_be_boolean():
    with pytest.raises(ConfigError) as e:
        envs.resolve("speaker_listener", pad_actions="yes")
    assert e.value.key == "envs.speaker_listener.pad_actions"


def test_shared_policy_problem_names_the_missing_options():
    env = envs.make_parallel_env(
        envs.resolve("speaker_listener", "pettingzoo", agent_indication="scalar")
    )
    agents = env.possible_agents
    err = shared_policy_problem(
        {a: env.observation_space(a) for a in agents},
        {a: env.action_space(a) for a in agents},
        "speaker_listener",
    )
    assert err.key == "envs.speaker_listener.pad_observations"
    assert "set envs.speaker_listener.pad_observations: true" in str(err)
    assert "set envs.speaker_listener.pad_actions: true" in str(err)
    env.close()
    env = envs.make_parallel_env(envs.resolve("speaker_listener", pad_actions=False))
    err = shared_policy_problem(
        {a: env.observation_space(a) for a in agents},
        {a: env.action_space(a) for a in agents},
        "speaker_listener",
    )
    assert err.key == "envs.speaker_listener.pad_actions"
    assert "pad_observations: true" not in str(err)
    env.close()


def test_shared_policy_problem_sees_differing_discrete_observations():
    err = shared_policy_problem(
        {"a": Discrete(3), "b": Discrete(4)}, {"a": Discrete(2), "b": Discrete(2)}, "toy"
    )
    assert err is not None and err.key == "envs.toy.pad_observations"
    assert (
        shared_policy_problem(
            {"a": Box(0, 1, (2,)), "b": Box(-1, 1, (2,))},
            {"a": Discrete(2), "b": Discrete(2)},
            "toy",
        )
        is None
    )


def _config_with(tiny_config, entry, sharing):
    c = copy.deepcopy(tiny_config)
    c["envs"] = {"speaker_listener": entry}
    c["sharing"] = sharing
    return c


@pytest.mark.parametrize(
    "entry,key",
    [
        ({"preset": "pettingzoo"}, "envs.speaker_listener.pad_observations"),
        ({"pad_observations": False}, "envs.speaker_listener.pad_observations"),
        ({"pad_actions": False}, "envs.speaker_listener.pad_actions"),
    ],
)
def test_config_rejects_shared_over_heterogeneous_spaces(tiny_config, entry, key):
    c = _config_with(tiny_config, entry, ["shared", "independent"])
    cfg.schema_validate(c)
    with pytest.raises(ConfigError) as e:
        cfg.validate(c)
    assert e.value.key == key and f"set {key}: true" in str(e.value)
    cfg.validate(_config_with(tiny_config, entry, ["independent"]))  # fine without sharing


def test_config_accepts_padding_keys_and_passes_them_on(tiny_config):
    c = _config_with(
        tiny_config,
        {
            "preset": "pettingzoo",
            "pad_observations": True,
            "pad_actions": True,
            "agent_indication": "onehot",
        },
        ["shared"],
    )
    cfg.schema_validate(c)
    cfg.validate(c)
    s = cfg.train_spec(c, "speaker_listener", "ppo", "shared", 0)["env"]
    assert (s["pad_observations"], s["pad_actions"], s["agent_indication"]) == (
        True,
        True,
        "onehot",
    )
    bad = copy.deepcopy(c)
    bad["envs"]["speaker_listener"]["pad_actions"] = "yes"
    with pytest.raises(ConfigError, match="pad_actions"):
        cfg.schema_validate(bad)


def test_heterogeneous_experiment_config_is_valid():
    from conftest import REPO

    c = cfg.load(REPO / "config" / "heterogeneous.yaml")
    cfg.schema_validate(c)
    cfg.validate(c)
    assert {j[2] for j in cfg.train_jobs(c)} == {"shared", "independent"}


def test_train_refuses_shared_policy_without_padding(tiny_config):
    from psmarl.train import build_algorithm_config

    c = _config_with(tiny_config, {"preset": "pettingzoo"}, ["independent"])
    spec = cfg.train_spec(c, "speaker_listener", "ppo", "shared", 0)
    with pytest.raises(ConfigError, match=r"set envs\.speaker_listener\.pad_observations: true"):
        build_algorithm_config(spec)
