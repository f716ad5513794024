import numpy as np
import pytest

from psmarl import envs
from psmarl.errors import ConfigError

PAPER_OBS = {"pursuit": 148, "waterworld": 243, "multiwalker": 32}
PAPER_AGENTS = {"pursuit": 8, "waterworld": 5, "multiwalker": 3}


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
        assert obs[agent][-1] == pytest.approx(i)  # the agent's index, as the paper's code
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
    p = envs.make_parallel_env(envs.resolve("pursuit", "paper")).unwrapped.env
    assert p.urgency_reward == 0.0 and p.local_ratio == 1.0
    assert p.catch_reward == 5.0 and p.tag_reward == 0.01 and p.max_cycles == 500
    w = envs.make_parallel_env(envs.resolve("waterworld", "paper")).unwrapped.env
    assert w.n_pursuers == 5 and w.n_coop == 2 and w.food_reward == 10.0
    assert w.poison_reward == -1.0 and w.thrust_penalty == 0.0 and w.local_ratio == 1.0
    m = envs.make_parallel_env(envs.resolve("multiwalker", "paper")).unwrapped.env
    assert m.fall_reward == -100.0 and m.local_ratio == 1.0 and m.max_cycles == 500


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


@pytest.mark.parametrize("args,key", [
    (("nope", "paper"), "envs"),
    (("pursuit", "nope"), "envs.pursuit.preset"),
    (("pursuit", "paper", {"bogus": 1}), "envs.pursuit.kwargs"),
])
def test_bad_env_choices_name_the_key(args, key):
    with pytest.raises(ConfigError) as e:
        envs.resolve(*args)
    assert e.value.key == key
    assert str(e.value).startswith(key)
