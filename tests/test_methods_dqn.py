"""DQN family (dqn, rainbow, apex_dqn): noisy layer math, noisy module, Ape-X's per-runner
epsilons in running runners, learning on MatchDiscrete, psmarl train + evaluate smoke."""

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ensure_ray
from torch import nn

from psmarl import methods
from psmarl.errors import ConfigError
from psmarl.methods.apex import apex_epsilon
from psmarl.methods.noisy import (
    NoisyLinear,
    noisify,
    noisy_layers,
    reset_noise,
    set_noise,
)

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
DQN_FAMILY = ("dqn", "rainbow", "apex_dqn")


# ---------------------------------------------------------------- noisy linear layer
def test_noisy_layer_with_zero_sigma_is_a_plain_linear_layer():
    torch.manual_seed(0)
    layer = NoisyLinear(5, 3, sigma0=0.0)
    x = torch.randn(7, 5)
    for _ in range(3):
        layer.reset_noise()
        assert torch.equal(layer(x), nn.functional.linear(x, layer.weight_mu, layer.bias_mu))


def test_noisy_layer_with_noise_off_equals_the_linear_layer_it_came_from():
    torch.manual_seed(1)
    lin = nn.Linear(6, 4)
    layer = NoisyLinear.from_linear(lin, sigma0=0.5)
    x = torch.randn(9, 6)
    layer.noise_on = False
    layer.reset_noise()
    assert torch.equal(layer(x), lin(x))
    layer.noise_on = True  # with noise on and sigma > 0 it differs
    assert not torch.allclose(layer(x), lin(x))


def test_noisy_layer_resamples_factorised_noise():
    torch.manual_seed(2)
    layer = NoisyLinear(4, 3, sigma0=0.5)
    # Fortunato et al. initialisation: sigma = sigma0 / sqrt(p)
    assert torch.allclose(layer.weight_sigma, torch.full((3, 4), 0.25))
    assert layer.weight_mu.abs().max() <= 0.5 and layer.bias_mu.abs().max() <= 0.5
    x = torch.randn(5, 4)
    eps_in, eps_out, y = layer.eps_in.clone(), layer.eps_out.clone(), layer(x)
    assert torch.equal(layer(x), y)  # no resampling without reset_noise
    layer.reset_noise()
    assert not torch.equal(layer.eps_in, eps_in) and not torch.equal(layer.eps_out, eps_out)
    assert not torch.allclose(layer(x), y)
    # factorised: eps_w = f(eps_out) f(eps_in)^T, eps_b = f(eps_out), f(x) = sgn(x) sqrt|x|
    g = torch.Generator().manual_seed(7)
    layer.reset_noise(generator=g)
    g = torch.Generator().manual_seed(7)
    raw_in, raw_out = torch.randn(4, generator=g), torch.randn(3, generator=g)

    def f(v):
        return v.sign() * v.abs().sqrt()

    want_w = layer.weight_mu + layer.weight_sigma * torch.outer(f(raw_out), f(raw_in))
    want_b = layer.bias_mu + layer.bias_sigma * f(raw_out)
    assert torch.allclose(layer(x), x @ want_w.T + want_b, atol=1e-6)
    # gradients reach both the means and the noise scales
    layer(x).sum().backward()
    assert layer.weight_sigma.grad is not None and layer.weight_sigma.grad.abs().sum() > 0
    # noise is not state: not in the state dict (checkpoints, weight syncs)
    assert set(layer.state_dict()) == {"weight_mu", "weight_sigma", "bias_mu", "bias_sigma"}


def test_noisify_replaces_every_linear_layer_keeping_its_weights():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 2)))
    ref = copy.deepcopy(net)
    assert noisify(net, 0.4) == 2 and len(noisy_layers(net)) == 2
    x = torch.randn(4, 3)
    set_noise(net, False)
    assert torch.equal(net(x), ref(x))
    set_noise(net, True)
    a = net(x)
    reset_noise(net)
    assert not torch.allclose(net(x), a)


# ---------------------------------------------------------------- the noisy Rainbow module
def _rainbow_module(sigma0=0.5, dueling=True, num_atoms=5, noisy=True):
    import gymnasium as gym
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from psmarl.methods.dqn_rllib import PsmarlDQNConfig, RainbowDQNTorchRLModule

    cfg = PsmarlDQNConfig().training(
        noisy=noisy,
        sigma0=sigma0,
        dueling=dueling,
        num_atoms=num_atoms,
        v_min=0.0,
        v_max=10.0,
        epsilon=0.0 if noisy else 0.5,
    )
    model = cfg.model_config | dict(
        vars(DefaultModelConfig(fcnet_hiddens=[8], head_fcnet_hiddens=[6]))
    )
    spec = RLModuleSpec(
        module_class=cfg.get_default_rl_module_spec().module_class,
        observation_space=gym.spaces.Box(0, 1, (4,), np.float32),
        action_space=gym.spaces.Discrete(3),
        model_config=model,
    )
    assert spec.module_class is RainbowDQNTorchRLModule
    m = spec.build()
    m.make_target_networks()
    return m


def test_noisy_flag_selects_the_noisy_module_and_plain_dqn_keeps_rllibs():
    from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import (
        DefaultDQNTorchRLModule,
    )

    from psmarl.methods.dqn_rllib import RainbowDQNTorchRLModule

    assert (
        methods.get("dqn").base_config().get_default_rl_module_spec().module_class
        is DefaultDQNTorchRLModule
    )
    rainbow = methods.get("rainbow")
    cfg = rainbow.base_config().training(**rainbow.defaults["training"])
    assert cfg.get_default_rl_module_spec().module_class is RainbowDQNTorchRLModule
    assert cfg.model_config["noisy"] is True


def test_noisy_module_resamples_in_exploration_and_training_and_is_deterministic_in_inference():
    torch.manual_seed(4)
    m = _rainbow_module()
    # every linear layer of the advantage and value heads (hidden + output) is noisy
    assert len(noisy_layers(m.af)) == 2 and len(noisy_layers(m.vf)) == 2
    assert not noisy_layers(m.encoder)
    obs = torch.rand(64, 4)
    batch = {"obs": obs}

    def q():
        return m.compute_q_values(batch)["qf_preds"].detach().clone()

    m.forward_inference(batch)
    q0 = q()
    assert torch.equal(m.forward_inference(batch)["actions"], m.forward_inference(batch)["actions"])
    m.forward_inference(batch)
    assert torch.equal(q(), q0)  # mean weights: deterministic
    m.forward_exploration(batch, t=0)
    q1 = q()
    m.forward_exploration(batch, t=1)
    q2 = q()
    assert not torch.allclose(q1, q0) and not torch.allclose(q2, q1)  # fresh noise each call
    # training: online and target noise both resampled, independently of each other
    tgt_eps = [layer.eps_in.clone() for layer in noisy_layers(m._target_af)]
    onl_eps = [layer.eps_in.clone() for layer in noisy_layers(m.af)]
    m.forward_train({"obs": obs, "new_obs": torch.rand(64, 4)})
    for old, layer in zip(tgt_eps, noisy_layers(m._target_af)):
        assert not torch.equal(old, layer.eps_in)
    for old, layer in zip(onl_eps, noisy_layers(m.af)):
        assert not torch.equal(old, layer.eps_in)
    assert not torch.equal(noisy_layers(m.af)[0].eps_in, noisy_layers(m._target_af)[0].eps_in)


def test_distributional_dueling_head_uses_its_value_stream():
    """Rainbow's dueling: logits = v + a - mean over actions of a, per atom; the value stream
    changes the distribution (in RLlib 2.60's own head it cancels in the softmax)."""
    torch.manual_seed(6)
    m = _rainbow_module(noisy=False, num_atoms=5)
    assert not noisy_layers(m)
    obs = torch.rand(16, 4)
    out = m.compute_q_values({"obs": obs})
    enc = m.encoder({"obs": obs})["encoder_out"]
    v = m.vf(enc)
    a = m.af(enc).reshape(16, 3, 5)
    assert v.shape == (16, 5)
    want = torch.softmax(v[:, None, :] + a - a.mean(dim=1, keepdim=True), dim=-1)
    assert torch.allclose(out["qf_probs"], want, atol=1e-6)
    out["qf_preds"].sum().backward()
    grads = [p.grad for p in m.vf.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    # without noise the module explores epsilon-greedily like RLlib's (epsilon 0.5 here)
    batch = {"obs": torch.rand(4000, 4)}
    greedy = m.forward_inference(batch)["actions"]
    off = (m.forward_exploration(batch, t=0)["actions"] != greedy).float().mean().item()
    assert off == pytest.approx(0.5 * 2 / 3, abs=0.05)


def test_noisy_module_with_zero_sigma_explores_exactly_like_its_greedy_inference():
    torch.manual_seed(5)
    m = _rainbow_module(sigma0=0.0)
    batch = {"obs": torch.rand(256, 4)}
    greedy = m.forward_inference(batch)["actions"]
    for t in range(3):  # no epsilon-greedy: exploration is the (here zero) noise only
        assert torch.equal(m.forward_exploration(batch, t=t)["actions"], greedy)


# ---------------------------------------------------------------- settings and errors
def test_paper_hyperparameters_are_the_defaults():
    d = {n: methods.get(n).defaults for n in DQN_FAMILY}
    for n in DQN_FAMILY:
        t = d[n]["training"]
        assert t["train_batch_size_per_learner"] == 512  # train_batch_size
        assert d[n]["env_runners"]["rollout_fragment_length"] == 20  # sample_batch_size
        assert t["num_steps_sampled_before_learning_starts"] == 1000  # learning_starts
        assert t["double_q"] is (n != "dqn") and t["gamma"] == 0.99
        assert t["replay_buffer_config"]["capacity"] == 100000  # buffer_size
        assert methods.get(n).action_kinds == frozenset({"discrete"})
    # the scripts' branches (Table 3 is printed shifted): plain DQN no dueling, no double Q,
    # truncated fragments, the paper's [400, 300] MLP; Rainbow and Ape-X one linear layer
    assert (d["dqn"]["training"]["dueling"], d["dqn"]["env_runners"]["batch_mode"]) == (
        False,
        "truncate_episodes",
    )
    assert d["dqn"]["model"]["fcnet_hiddens"] == [400, 300]
    for n in ("rainbow", "apex_dqn"):
        assert (d[n]["model"]["fcnet_hiddens"], d[n]["model"]["fcnet_activation"]) == (
            [256],
            "linear",
        )
    assert d["rainbow"]["env_runners"]["batch_mode"] == "complete_episodes"
    r = d["rainbow"]["training"]
    assert (r["n_step"], r["num_atoms"], r["v_min"], r["v_max"], r["noisy"], r["dueling"]) == (
        2,
        51,
        0.0,
        1500.0,
        True,
        True,
    )
    assert r["replay_buffer_config"]["type"] == "PrioritizedEpisodeReplayBuffer"
    assert r["replay_buffer_config"]["capacity"] == 100000
    a = d["apex_dqn"]["training"]
    assert (a["n_step"], a["dueling"], a["replay_buffer_config"]["capacity"]) == (3, True, 100000)
    for n in DQN_FAMILY:  # every default key is a real setting
        methods.check_settings(n, d[n], f"methods.{n}")


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"training": {"n_steps": 3}}, "methods.rainbow.training.n_steps"),
        ({"training": {"n_step": 0}}, "methods.rainbow.training.n_step"),
        ({"training": {"num_atoms": 0}}, "methods.rainbow.training.num_atoms"),
        ({"training": {"gamma": 1.5}}, "methods.rainbow.training.gamma"),
        ({"env_runners": {"num_env_runners": -1}}, "methods.rainbow.env_runners.num_env_runners"),
    ],
)
def test_check_settings_rejects_unknown_keys_and_out_of_range_values(settings, key):
    with pytest.raises(ConfigError) as e:
        methods.check_settings("rainbow", settings, "methods.rainbow")
    assert e.value.key == key


def _config(name, **training):
    spec = methods.get(name)
    t = dict(spec.defaults["training"], **training)
    return spec.base_config().training(**t)


@pytest.mark.parametrize(
    "name, training, key",
    [
        ("rainbow", {"epsilon": [[0, 1.0], [100, 0.1]]}, "methods.rainbow.training.epsilon"),
        ("rainbow", {"v_min": 5.0, "v_max": 5.0}, "methods.rainbow.training.v_min"),
        (
            "dqn",
            {"replay_buffer_config": {"capacity": 0}},
            "methods.dqn.training.replay_buffer_config.capacity",
        ),
        (
            "apex_dqn",
            {"replay_buffer_config": {"beta": 1.5}},
            "methods.apex_dqn.training.replay_buffer_config.beta",
        ),
    ],
)
def test_customize_rejects_inconsistent_settings_naming_the_key(name, training, key):
    spec = methods.get(name)
    with pytest.raises(ConfigError) as e:
        spec.customize(_config(name, **training), {}, {})
    assert e.value.key == key


def test_customize_picks_the_multi_agent_buffer_for_multi_agent_runs():
    from psmarl.methods.replay import AGENT_SCALED_PRIORITIZED as SHARED_BUFFER
    from psmarl.train import _MappingFn

    spec = methods.get("apex_dqn")
    agents = [f"p_{i}" for i in range(8)]
    for sharing, k in (("shared", 8), ("independent", 1)):
        mapping = _MappingFn({a: ("shared" if sharing == "shared" else a) for a in agents})
        cfg = _config("apex_dqn").multi_agent(
            policies=set(mapping.mapping.values()), policy_mapping_fn=mapping
        )
        buf = spec.customize(cfg, {}, {}).replay_buffer_config
        # RLlib 0.9's per-policy buffer_size transitions: capacity / k env steps
        assert buf["type"] == SHARED_BUFFER and buf["agents_per_module"] == k
        assert buf["capacity"] == 100000 // k
    single = spec.customize(_config("apex_dqn"), {}, {})
    assert single.replay_buffer_config["type"] == "PrioritizedEpisodeReplayBuffer"


def test_shared_module_buffer_holds_all_agents_steps():
    """RLlib 2.60's multi-agent prioritized buffer runs out of tree nodes when 8 agents share
    one module; the agent-scaled one fills to capacity and evicts."""
    from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
    from ray.rllib.utils.replay_buffers.multi_agent_prioritized_episode_buffer import (
        MultiAgentPrioritizedEpisodeReplayBuffer,
    )

    from psmarl.methods.replay_rllib import AgentScaledPrioritizedEpisodeReplayBuffer

    agents = [f"p_{i}" for i in range(8)]

    def episode(length=50):
        obs = [{a: np.zeros(2, np.float32) for a in agents} for _ in range(length + 1)]
        acts = [{a: 0 for a in agents} for _ in range(length)]
        rews = [{a: 1.0 for a in agents} for _ in range(length)]
        return MultiAgentEpisode(
            observations=obs,
            actions=acts,
            rewards=rews,
            agent_module_ids={a: "shared" for a in agents},
            len_lookback_buffer=0,
        )

    rllib_buf = MultiAgentPrioritizedEpisodeReplayBuffer(capacity=100, alpha=0.6)
    with pytest.raises(IndexError):
        for _ in range(20):
            rllib_buf.add([episode()])
    ours = AgentScaledPrioritizedEpisodeReplayBuffer(capacity=100, alpha=0.6, agents_per_module=8)
    for _ in range(20):
        ours.add([episode()])
    assert ours.get_num_timesteps() <= 100
    assert len(ours.sample(num_items=16, gamma=0.99, n_step=1, beta=0.4)) == 16


@pytest.mark.parametrize("prioritized", [True, False])
def test_a_batch_larger_than_the_buffer_keeps_the_newest_steps(prioritized):
    """One sampling round can bring more env steps than the buffer holds (pursuit DQN shared:
    6250 env steps; 16 envs x complete 500-step episodes). RLlib 2.60's multi-agent buffers
    then pop from an empty deque; psmarl's add the batch in parts."""
    from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
    from ray.rllib.utils.replay_buffers.multi_agent_episode_buffer import (
        MultiAgentEpisodeReplayBuffer,
    )
    from ray.rllib.utils.replay_buffers.multi_agent_prioritized_episode_buffer import (
        MultiAgentPrioritizedEpisodeReplayBuffer,
    )

    from psmarl.methods.replay_rllib import (
        AgentScaledPrioritizedEpisodeReplayBuffer,
        CapacityBoundedMultiAgentEpisodeReplayBuffer,
    )

    agents = ["p_0", "p_1"]

    def episode(mark, length=50):
        obs = [{a: np.full(2, mark, np.float32) for a in agents} for _ in range(length + 1)]
        acts = [{a: 0 for a in agents} for _ in range(length)]
        rews = [{a: 1.0 for a in agents} for _ in range(length)]
        return MultiAgentEpisode(
            observations=obs,
            actions=acts,
            rewards=rews,
            agent_module_ids={a: "shared" for a in agents},
            len_lookback_buffer=0,
        )

    if prioritized:
        rllib_buf = MultiAgentPrioritizedEpisodeReplayBuffer(capacity=120, alpha=0.6)
        ours = AgentScaledPrioritizedEpisodeReplayBuffer(
            capacity=120, alpha=0.6, agents_per_module=2
        )
    else:
        rllib_buf = MultiAgentEpisodeReplayBuffer(capacity=120)
        ours = CapacityBoundedMultiAgentEpisodeReplayBuffer(capacity=120)
    rllib_buf.add([episode(0)])
    with pytest.raises(IndexError):
        rllib_buf.add([episode(i) for i in range(1, 6)])  # 250 new env steps > 120
    ours.add([episode(0)])
    ours.add([episode(i) for i in range(1, 6)])
    assert ours.get_num_timesteps() <= 120
    kept = sorted({float(e.get_observations(0)["p_0"][0]) for e in ours.episodes})
    assert kept == [4.0, 5.0]  # the newest episodes that fit
    ours.add([episode(i) for i in range(6, 9)])  # and it goes on evicting normally
    assert sorted({float(e.get_observations(0)["p_0"][0]) for e in ours.episodes}) == [7.0, 8.0]


def test_apex_runner_epsilons_follow_the_schedule():
    from psmarl.methods.dqn_rllib import (
        ApexMultiAgentEnvRunner,
        ApexSingleAgentEnvRunner,
        runner_epsilon,
    )

    assert [runner_epsilon(i, 4) for i in (1, 2, 3, 4)] == [apex_epsilon(i, 4) for i in range(4)]
    assert runner_epsilon(1, 4) == pytest.approx(0.4)
    assert runner_epsilon(4, 4) == pytest.approx(0.4**8)
    assert runner_epsilon(0, 0) == pytest.approx(0.4)  # local runner alone: one actor
    cfg = methods.get("apex_dqn").base_config()
    assert cfg.env_runner_cls is ApexSingleAgentEnvRunner
    cfg.multi_agent(policies={"a"}, policy_mapping_fn=lambda *a, **k: "a")
    assert cfg.env_runner_cls is ApexMultiAgentEnvRunner


# ---------------------------------------------------------------- running algorithms
@pytest.fixture(scope="module")
def ray_session():

    ensure_ray()
    yield


def _tiny(name, num_env_runners=0, gamma=0.5, **training):
    """A CI-sized single-agent config on tests/tasks.py's MatchDiscrete."""
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from tasks import MatchDiscrete

    spec = methods.get(name)
    t = dict(spec.defaults["training"])
    # training_intensity 6.4: one update of 64 per 10-step round, as RLlib's default loop
    # (the paper's ratios, 0.128-10.89, are for its 500-step episodes and 512-batches)
    t.update(
        train_batch_size_per_learner=64,
        num_steps_sampled_before_learning_starts=200,
        target_network_update_freq=100,
        min_sample_timesteps_per_iteration=200,
        gamma=gamma,
        lr=1e-3,
        training_intensity=6.4,
        target_network_update_unit="sampled",
    )
    t["replay_buffer_config"] = dict(t["replay_buffer_config"], capacity=5000)
    if t.get("noisy"):
        t.update(v_min=0.0, v_max=1.0 / (1.0 - gamma))
    else:
        t["epsilon"] = [[0, 1.0], [1000, 0.02]]
    t.update(training)
    er = dict(spec.defaults["env_runners"], rollout_fragment_length=10)
    model = DefaultModelConfig(fcnet_hiddens=[32], fcnet_activation="relu", head_fcnet_hiddens=[])
    if spec.defaults["model"]["fcnet_activation"] == "linear":  # Rainbow, Ape-X: the paper's net
        model = DefaultModelConfig(**spec.defaults["model"])
    cfg = (
        spec.base_config()
        .environment(MatchDiscrete, env_config={"horizon": 10, "n": 4})
        .env_runners(num_env_runners=num_env_runners, **er)
        .training(**t)
        .rl_module(model_config=model)
        .debugging(seed=0)
    )
    return spec.customize(cfg, {}, {})


def _greedy_return(module, episodes=20, seed=123):
    """Mean return of the module's deterministic (inference) policy on MatchDiscrete."""
    from tasks import MatchDiscrete

    env = MatchDiscrete({"horizon": 10, "n": 4})
    total = 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            with torch.no_grad():
                a = module.forward_inference({"obs": torch.as_tensor(obs[None])})["actions"]
            obs, r, term, trunc, _ = env.step(int(a[0]))
            total += r
            done = term or trunc
    return total / episodes


MATCH_THRESHOLD = 9.5  # MatchDiscrete, horizon 10, 4 classes: random 2.5, optimum 10


@pytest.mark.slow
@pytest.mark.parametrize("name, runners", [("dqn", 0), ("rainbow", 0), ("apex_dqn", 2)])
def test_learns_match_discrete(ray_session, name, runners):
    """Greedy return >= 9.5 (random 2.5, optimum 10) within 8000 env steps."""
    algo = _tiny(name, num_env_runners=runners).build_algo()
    try:
        best, steps = 0.0, 0
        while steps < 8000:
            r = algo.train()
            steps = r["env_runners"]["num_env_steps_sampled_lifetime"]
            module = algo.get_module()
            best = max(best, _greedy_return(module))
            if best >= MATCH_THRESHOLD:
                break
        assert best >= MATCH_THRESHOLD, f"{name}: greedy return {best} after {steps} env steps"
    finally:
        algo.stop()


@pytest.mark.slow
def test_apex_runners_act_with_their_own_epsilon(ray_session):
    """In the running remote runners: the module's epsilon is the runner's Ape-X value, and
    the actions they sample deviate from the greedy ones at the rate that epsilon implies."""
    n = 3
    algo = _tiny(
        "apex_dqn", num_env_runners=n, num_steps_sampled_before_learning_starts=0
    ).build_algo()
    try:
        algo.train()  # one round of sampling, learning and weight sync first

        def probe(er):
            import numpy as np
            import torch

            eps_used = float(er.module.epsilon_schedule.get_current_value())
            episodes = er.sample(num_timesteps=3000, random_actions=False)
            obs = np.concatenate([np.asarray(e.get_observations()[:-1]) for e in episodes])
            act = np.concatenate([np.asarray(e.get_actions()) for e in episodes])
            with torch.no_grad():
                out = er.module.forward_inference({"obs": torch.as_tensor(obs)})
                greedy = out["actions"].numpy()
            return er.worker_index, eps_used, float(np.mean(act != greedy)), len(act)

        got = sorted(algo.env_runner_group.foreach_env_runner(probe, local_env_runner=False))
    finally:
        algo.stop()
    assert [g[0] for g in got] == [1, 2, 3]
    for worker_index, eps_used, off_greedy, count in got:
        want = apex_epsilon(worker_index - 1, n)
        assert eps_used == pytest.approx(want)
        assert count >= 3000
        # a random action differs from the greedy one with probability 3/4 (4 actions)
        assert off_greedy == pytest.approx(want * 0.75, abs=0.04), (worker_index, off_greedy)
    assert got[0][2] > 0.2 and got[-1][2] < 0.02  # really different behaviour per runner


# ---------------------------------------------------------------- psmarl train + evaluate
def _smoke_spec(name, sharing, runners=0):
    from psmarl import config as cfg

    c = cfg.load(TESTS / "data" / "tiny.yaml")
    c = json.loads(json.dumps(c))
    c["envs"]["pursuit"]["kwargs"] = {"max_cycles": 25}
    c["methods"] = {
        name: {
            "training": {
                "train_batch_size_per_learner": 32,
                "num_steps_sampled_before_learning_starts": 100,
                "min_sample_timesteps_per_iteration": 100,
                # updates in every iteration after the first (Rainbow's paper ratio
                # 0.128 would wait 250 env steps for its first batch of 32)
                "training_intensity": 1.0,
                "replay_buffer_config": {"capacity": 2000},
            },
            "env_runners": {"rollout_fragment_length": 25},
            "model": {"fcnet_hiddens": [16], "head_fcnet_hiddens": [8]},
        }
    }
    if name == "rainbow":
        c["methods"][name]["training"].update(num_atoms=11, v_max=20.0)
    c["training"]["budget"] = {"iterations": 2}
    c["training"]["runtime"] = {
        "num_env_runners": runners,
        "num_envs_per_env_runner": 1,
        "num_cpus": 2,
    }
    return cfg.train_spec(c, "pursuit", name, sharing, 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", DQN_FAMILY)
@pytest.mark.parametrize("sharing", ["shared", "independent"])
def test_train_and_evaluate_on_pursuit(ray_session, tmp_path, name, sharing):
    from psmarl import evaluate, train

    runners = 2 if (name == "apex_dqn" and sharing == "shared") else 0
    spec = _smoke_spec(name, sharing, runners)
    summary = train.train(spec, tmp_path / "run", log=lambda m: None)
    assert summary["iterations"] == 2 and summary["env_steps"] > 0
    assert len(summary["modules"]) == (1 if sharing == "shared" else 8)
    prog = pd.read_csv(tmp_path / "run" / "progress.csv")
    losses = prog[[c for c in prog.columns if c.endswith("/qf_loss")]]
    assert np.isfinite(losses.iloc[-1].to_numpy()).any(), "no learner update happened"
    ckpt = tmp_path / "run" / "checkpoint"
    df = evaluate.evaluate(
        spec["env"],
        evaluate.PolicySpec("checkpoint", str(ckpt)),
        episodes=2,
        seed=5,
        workers=1,
        envs_per_worker=2,
        log=lambda m: None,
    )
    assert len(df) == 2 and np.isfinite(df["total_reward"]).all()
    df2 = evaluate.evaluate(
        spec["env"],
        evaluate.PolicySpec("checkpoint", str(ckpt)),
        episodes=2,
        seed=5,
        workers=1,
        envs_per_worker=2,
        log=lambda m: None,
    )
    assert list(df["total_reward"]) == list(df2["total_reward"])  # deterministic inference


@pytest.mark.slow
def test_apex_epsilons_in_psmarl_multi_agent_runners(ray_session):
    """Through psmarl's own config (pursuit, parameter sharing): every remote runner's module
    carries its Ape-X epsilon."""
    from psmarl import train
    from psmarl.methods.dqn_rllib import ApexMultiAgentEnvRunner

    config, _ = train.build_algorithm_config(_smoke_spec("apex_dqn", "shared", runners=2))
    assert config.env_runner_cls is ApexMultiAgentEnvRunner
    algo = config.build_algo()
    try:
        got = sorted(
            algo.env_runner_group.foreach_env_runner(
                lambda er: (
                    er.worker_index,
                    er.apex_epsilon,
                    float(er.module["shared"].epsilon_schedule.get_current_value()),
                ),
                local_env_runner=False,
            )
        )
    finally:
        algo.stop()
    assert got == [
        (1, pytest.approx(0.4), pytest.approx(0.4)),
        (2, pytest.approx(0.4**8), pytest.approx(0.4**8)),
    ]
