"""psmarl's PPO learner (psmarl.methods.ppo_rllib) where it departs from RLlib 2.60's.

- It clips the value function as old RLlib (the paper's runs) did: the new value prediction
  may move at most ``vf_clip_param`` from the sampling-time prediction; loss = max(unclipped,
  clipped squared error). RLlib 2 clamps the squared error at ``vf_clip_param`` (no gradient
  past it).
- Its checkpoints keep the KL penalty's adapted coefficient.
- ``shuffle_first_epoch`` shuffles the train batch before the first epoch, as old RLlib did.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ensure_ray
from tasks import MatchDiscrete

from psmarl import methods


def test_clipped_value_loss_by_hand():
    from psmarl.methods.ppo_rllib import value_loss_clipped_to_previous

    values = torch.tensor([0.0, 5.0, 30.0, -30.0, 12.0])
    previous = torch.tensor([0.0, 0.0, 0.0, 0.0, 10.0])
    targets = torch.tensor([50.0, 5.0, 30.0, 20.0, 0.0])
    got = value_loss_clipped_to_previous(values, previous, targets, clip=10.0)
    # 1: unmoved, error 50 -> 2500 (RLlib 2 would clamp it to 10 and give no gradient)
    # 2: exact -> 0
    # 3: moved 30 (clipped to 10): max(0, (10 - 30)^2) = 400
    # 4: moved -30 (clipped to -10): max(50^2, 30^2) = 2500
    # 5: moved 2, within the clip: 144
    assert got.tolist() == [2500.0, 0.0, 400.0, 2500.0, 144.0]


def _ppo_learner(**training):
    import gymnasium as gym
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    obs_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    act_space = gym.spaces.Discrete(4)
    config = (
        methods.get("ppo")
        .base_config()
        .environment(observation_space=obs_space, action_space=act_space)
        .training(**training)
        .rl_module(
            model_config=DefaultModelConfig(
                fcnet_hiddens=[8], fcnet_activation="tanh", vf_share_layers=False
            )
        )
        .debugging(seed=3)
    )
    learner = config.build_learner(env=None, spaces={"default_policy": (obs_space, act_space)})
    return config, learner


def _value_head_grad(learner, config, vf_preds_offset: float) -> float:
    """Size of the value head's gradient of the PPO loss on a batch whose value targets are
    50 away from every prediction."""
    from ray.rllib.core.columns import Columns
    from ray.rllib.evaluation.postprocessing import Postprocessing

    module = learner.module["default_policy"]
    g = torch.Generator().manual_seed(0)
    obs = torch.rand(16, 3, generator=g) * 2 - 1
    with torch.no_grad():
        out = module.forward_train({Columns.OBS: obs})
        values = module.compute_values({Columns.OBS: obs})
    dist = module.get_train_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
    actions = dist.sample()
    batch = {
        Columns.OBS: obs,
        Columns.ACTIONS: actions,
        Columns.ACTION_LOGP: dist.logp(actions).detach(),
        Columns.ACTION_DIST_INPUTS: out[Columns.ACTION_DIST_INPUTS],
        Postprocessing.ADVANTAGES: torch.zeros(16),
        Postprocessing.VALUE_TARGETS: values + 50.0,
        Columns.VF_PREDS: values + vf_preds_offset,
    }
    module.zero_grad()
    fwd = module.forward_train(batch)
    loss = learner.compute_loss_for_module(
        module_id="default_policy", config=config, batch=batch, fwd_out=fwd
    )
    loss.backward()
    return sum(float(p.grad.abs().sum()) for n, p in module.named_parameters() if "vf" in n)


def test_value_error_past_the_clip_still_trains_the_value_function():
    """Errors of 50 (squared 2500 > vf_clip_param 10): old RLlib's loss still pulls the
    value towards its target; RLlib 2's clamp leaves it no gradient at all."""
    config, learner = _ppo_learner(vf_clip_param=10.0)
    assert config.vf_clip_to_previous is True  # psmarl's default
    assert _value_head_grad(learner, config, vf_preds_offset=0.0) > 1e-3

    config2, learner2 = _ppo_learner(vf_clip_param=10.0, vf_clip_to_previous=False)
    assert _value_head_grad(learner2, config2, vf_preds_offset=0.0) == 0.0


def test_a_value_already_moved_past_the_clip_gets_no_further_push():
    """The prediction already moved 20 away from the sampling-time value, towards its
    target: the clipped term is larger and constant, so the value head gets no gradient."""
    config, learner = _ppo_learner(vf_clip_param=10.0)
    # sampling-time prediction 20 below the current one, target 50 above the current one:
    # clipped prediction = previous + 10 -> error 60 > unclipped error 50 -> the max is the
    # clipped (constant) term
    assert _value_head_grad(learner, config, vf_preds_offset=-20.0) == 0.0


@pytest.mark.parametrize("to_previous", [True, False])
def test_training_logs_the_value_loss_of_its_clipping(to_previous):
    """One iteration on a small task: with psmarl's clipping the logged value loss is not
    capped at vf_clip_param and the held-back fraction is logged; with RLlib 2's it is."""
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    ensure_ray()
    clip = 1e-3
    config = (
        methods.get("ppo")
        .base_config()
        .environment(MatchDiscrete, env_config={"horizon": 10})
        .env_runners(num_env_runners=0, num_envs_per_env_runner=2)
        .learners(num_learners=0)
        .training(
            train_batch_size_per_learner=200,
            minibatch_size=100,
            num_epochs=2,
            vf_clip_param=clip,
            vf_clip_to_previous=to_previous,
        )
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[8], vf_share_layers=False))
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        stats = algo.train()["learners"]["default_policy"]
    finally:
        algo.stop()
    if to_previous:
        assert stats["vf_loss"] > 10 * clip
        assert 0.0 <= stats["vf_clipped_fraction"] <= 1.0
    else:
        assert stats["vf_loss"] <= clip + 1e-9
        assert "vf_clipped_fraction" not in stats


def test_a_checkpoint_keeps_the_adapted_kl_coefficient(tmp_path):
    """RLlib 2.60's PPO learner does not checkpoint its KL coefficients: a resumed run
    would start again at kl_coeff (0.5) where the uninterrupted one had halved it away."""
    config, learner = _ppo_learner(kl_coeff=0.5)
    learner.curr_kl_coeffs_per_module["default_policy"].data.fill_(0.5**7)
    learner.save_to_path(tmp_path / "learner")
    _, fresh = _ppo_learner(kl_coeff=0.5)
    assert float(fresh.curr_kl_coeffs_per_module["default_policy"]) == 0.5
    fresh.restore_from_path(tmp_path / "learner")
    assert float(fresh.curr_kl_coeffs_per_module["default_policy"]) == 0.5**7
    # a weights-only state (what RLlib syncs to its runners) carries no coefficients
    assert "psmarl_curr_kl_coeffs" not in learner.get_state(components="rl_module")


def _first_epoch_order(shuffle_first_epoch: bool) -> list[int]:
    """The sample indices of the first epoch's minibatches, in the order trained."""
    import torch
    from ray.rllib.core.columns import Columns
    from ray.rllib.evaluation.postprocessing import Postprocessing
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    n = 40
    config, learner = _ppo_learner(shuffle_first_epoch=shuffle_first_epoch)
    obs = torch.zeros(n, 3)
    obs[:, 0] = torch.arange(n) / n  # the sample's index, seen by the loss
    cols = {
        Columns.OBS: obs,
        Columns.ACTIONS: torch.zeros(n, dtype=torch.int64),
        Columns.ACTION_LOGP: torch.full((n,), -np.log(4.0)),
        Columns.ACTION_DIST_INPUTS: torch.zeros(n, 4),
        Columns.VF_PREDS: torch.zeros(n),
        Postprocessing.ADVANTAGES: torch.randn(n),
        Postprocessing.VALUE_TARGETS: torch.zeros(n),
    }
    seen: list[int] = []
    real = learner.compute_loss_for_module

    def spy(*, module_id, config, batch, fwd_out):
        seen.extend(torch.round(batch[Columns.OBS][:, 0] * n).long().tolist())
        return real(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)

    learner.compute_loss_for_module = spy
    learner.update(
        batch=MultiAgentBatch({"default_policy": SampleBatch(cols)}, n),
        num_epochs=2,
        minibatch_size=10,
        shuffle_batch_per_epoch=True,
    )
    return seen[:n]


def test_the_first_epoch_is_shuffled_only_with_shuffle_first_epoch():
    """RLlib 2.60 cuts the first epoch in the batch's own order (consecutive steps of one
    trajectory together); old RLlib shuffled first. Either way every sample once."""
    assert _first_epoch_order(False) == list(range(40))
    shuffled = _first_epoch_order(True)
    assert sorted(shuffled) == list(range(40)) and shuffled != list(range(40))


def test_the_switch_must_be_a_boolean_naming_its_key():
    from psmarl.errors import ConfigError

    methods.check_settings("ppo", {"training": {"vf_clip_to_previous": False}}, "methods.ppo")
    with pytest.raises(ConfigError, match="must be true or false") as e:
        methods.check_settings("ppo", {"training": {"vf_clip_to_previous": "false"}}, "methods.ppo")
    assert "methods.ppo.training.vf_clip_to_previous" in str(e.value)
