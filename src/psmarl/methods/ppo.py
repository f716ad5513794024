"""PPO (RLlib's own), with the paper's hyperparameters (Tables 1 and 4) as defaults.

Paper (old RLlib) name -> RLlib 2.60 new-stack name:
sample_batch_size -> env_runners.rollout_fragment_length; train_batch_size ->
training.train_batch_size_per_learner; sgd_minibatch_size -> training.minibatch_size;
num_sgd_iter -> training.num_epochs; lambda -> training.lambda_.
"""

from psmarl.methods import MethodSpec, register

PAPER_MODEL = {"fcnet_hiddens": [400, 300], "fcnet_activation": "relu", "vf_share_layers": True}


def _base():
    from ray.rllib.algorithms.ppo import PPOConfig

    return PPOConfig()


PPO = register(MethodSpec(
    name="ppo",
    family="policy_gradient",
    action_kinds=frozenset({"discrete", "continuous"}),
    base_config=_base,
    defaults={
        "training": {
            "lr": 5e-5, "gamma": 0.99, "lambda_": 0.95, "kl_coeff": 0.5,
            "entropy_coeff": 0.01, "num_epochs": 10, "minibatch_size": 500,
            "train_batch_size_per_learner": 5000, "vf_clip_param": 10.0, "clip_param": 0.1,
        },
        "model": PAPER_MODEL,
        # the paper's sample_batch_size 100 only fits when train_batch_size is a multiple of
        # (runners x envs per runner x 100); "auto" lets RLlib split the batch evenly.
        "env_runners": {"rollout_fragment_length": "auto"},
        "clip_rewards": True,
    },
    description="Proximal Policy Optimization (Schulman et al., 2017)",
    limits={"training.lr": (0, None), "training.gamma": (0, 1), "training.lambda_": (0, 1),
            "training.clip_param": (0, None), "training.num_epochs": (1, None),
            "training.minibatch_size": (1, None), "training.train_batch_size_per_learner": (1, None),
            "training.entropy_coeff": (0, None), "training.kl_coeff": (0, None)},
))
