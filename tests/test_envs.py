import numpy as np
import pytest

from psmarl import envs
from psmarl.errors import ConfigError

PAPER_OBS = {"pursuit": 148, "waterworld": 243, "multiwalker": 32}
PAPER_AGENTS = {"pursuit": 8, "waterworld": 5, "multiwalker": 3}
# the id the paper's env copies appended (sisl_games/*/..._base.py of its repository):
# i / n_agents on pursuit and multiwalker, i + 1 on waterworld
PAPER_ID = {
    "pursuit": lambda i: i / 8,
    "waterworld": lambda i: i + 1,
    "multiwalker": lambda i: i / 3,
}


def test_registry_lists_the_three_sisl_games():
    assert {"pursuit", "waterworld", "multiwalker"} <= set(envs.names())


@pytest.mark.parametrize("name", ["pursuit", "waterworld", "multiwalker"])
def test_paper_preset_spaces_and_agent_index(name):
    s = envs.resolve(name, "paper")
    env = envs.make_parallel_env(s)
    obs, _ = env.reset(seed=3)
    assert len(env.possible_agents) == PAPER_AGENTS[name]
    for i, agent in enumerate(env.possible_agents):
        space = env.observation_space(agent)
        assert space.shape == (PAPER_OBS[name],)
        assert space.dtype == np.float32
        assert obs[agent].shape == (PAPER_OBS[name],)
        assert obs[agent].dtype == np.float32
        assert obs[agent][-1] == pytest.approx(PAPER_ID[name](i))  # as the paper's code
        assert space.contains(obs[agent])
    env.close()


@pytest.mark.parametrize("name,size", [("pursuit", 147), ("waterworld", 242), ("multiwalker", 31)])
def test_pettingzoo_preset_is_library_default(name, size):
    s = envs.resolve(name, "pettingzoo")
    assert s["kwargs"] == {} and s["agent_indication"] == "none"
    env = envs.make_parallel_env(s)
    assert env.observation_space(env.possible_agents[0]).shape == (size,)
    env.close()


def test_paper_reward_settings_reach_the_environments():
    # the paper preset runs psmarl's fast pursuit (the game is the env itself); the
    # PettingZoo backend keeps the game in raw_env.env
    p = envs.make_parallel_env(envs.resolve("pursuit", "paper")).unwrapped
    assert p.urgency_reward == 0.0 and p.local_ratio == 1.0
    assert p.catch_reward == 5.0 and p.tag_reward == 0.01 and p.max_cycles == 500
    p = envs.make_parallel_env(envs.resolve("pursuit", "paper", backend="pettingzoo")).unwrapped.env
    assert p.urgency_reward == 0.0 and p.local_ratio == 1.0
    assert p.catch_reward == 5.0 and p.tag_reward == 0.01 and p.max_cycles == 500
    w = envs.make_parallel_env(envs.resolve("waterworld", "paper")).unwrapped.env
    assert w.n_pursuers == 5 and w.n_coop == 2 and w.food_reward == 10.0
    assert w.poison_reward == -1.0 and w.thrust_penalty == 0.0 and w.local_ratio == 1.0
    m = envs.make_parallel_env(envs.resolve("multiwalker", "paper")).unwrapped.env
    assert m.fall_reward == -100.0 and m.local_ratio == 1.0 and m.max_cycles == 500


def _twin_multiwalker_steps(options, seed=5, drop_at=10):
    """Step two multiwalker envs with one seed and one action sequence; on step
    ``drop_at`` the package is made to touch the ground (the base env's game_over)."""
    s = envs.resolve("multiwalker", "paper", options=options)
    env = envs.make_parallel_env(s)
    env.reset(seed=seed)
    rng = np.random.default_rng(0)
    rows = []
    for t in range(drop_at + 1):
        if t == drop_at:
            env.unwrapped.env.game_over = True
        acts = {a: rng.uniform(-0.2, 0.2, 4).astype(np.float32) for a in env.agents}
        _, rew, term, _, _ = env.step(acts)
        rows.append((rew, term))
        if any(term.values()):
            break
    env.close()
    return rows


def test_multiwalker_paper_preset_pays_the_drop_reward_to_every_walker():
    paper = _twin_multiwalker_steps({})
    plain = _twin_multiwalker_steps({"package_drop_reward": 0.0})
    assert len(paper) == len(plain) == 11  # the drop ends the episode
    for (r1, t1), (r0, _t0) in zip(paper[:-1], plain[:-1]):
        assert r1 == r0 and not any(t1.values())
    (r1, t1), (r0, t0) = paper[-1], plain[-1]
    assert all(t1.values()) and all(t0.values())
    for a in r0:
        assert r1[a] == pytest.approx(r0[a] - 100.0)


def test_waterworld_paper_preset_charges_the_papers_squared_control_penalty():
    """The paper's copy: control_penalty -0.5 on actions scaled by 0.01, per pursuer and step;
    waterworld_v4's own thrust penalty stays off."""
    runs = {}
    for name, options in (("paper", {}), ("plain", {"squared_thrust_penalty": 0.0})):
        env = envs.make_parallel_env(envs.resolve("waterworld", "paper", options=options))
        env.reset(seed=3)
        rng = np.random.default_rng(0)
        steps = []
        for _ in range(20):
            acts = {a: rng.uniform(-1.5, 1.5, 2).astype(np.float32) for a in env.agents}
            steps.append((acts, env.step(acts)[1]))
        env.close()
        runs[name] = steps
    for (acts, r1), (_, r0) in zip(runs["paper"], runs["plain"]):
        for a, act in acts.items():
            clipped = np.clip(act.astype(np.float64), -1, 1)
            assert r1[a] == pytest.approx(r0[a] - 0.5 * float(np.sum((0.01 * clipped) ** 2)))


def test_unknown_env_option_names_the_key():
    with pytest.raises(ConfigError) as e:
        envs.resolve("multiwalker", "paper", options={"drop": -1})
    assert e.value.key == "envs.multiwalker.options"
    assert "package_drop_reward" in str(e.value)


def test_pettingzoo_defaults_differ_from_paper():
    p = envs.make_parallel_env(envs.resolve("pursuit", "pettingzoo")).unwrapped.env
    assert p.urgency_reward == -0.1


def test_kwargs_override_and_are_sorted():
    s = envs.resolve("pursuit", "paper", {"n_pursuers": 4})
    assert s["kwargs"]["n_pursuers"] == 4
    assert list(s["kwargs"]) == sorted(s["kwargs"])


def test_onehot_indication():
    s = envs.resolve("multiwalker", "paper", agent_indication="onehot")
    env = envs.make_parallel_env(s)
    obs, _ = env.reset(seed=0)
    assert obs["walker_1"].shape == (31 + 3,)
    np.testing.assert_array_equal(obs["walker_1"][-3:], [0, 1, 0])


@pytest.mark.parametrize(
    "args,key",
    [
        (("nope", "paper"), "envs"),
        (("pursuit", "nope"), "envs.pursuit.preset"),
        (("pursuit", "paper", {"bogus": 1}), "envs.pursuit.kwargs"),
    ],
)
def test_bad_env_choices_name_the_key(args, key):
    with pytest.raises(ConfigError) as e:
        envs.resolve(*args)
    assert e.value.key == key
    assert str(e.value).startswith(key)
