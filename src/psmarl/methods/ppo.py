"""PPO (RLlib's own), with the paper's hyperparameters (Tables 1 and 4) as defaults.

Paper (old RLlib) name -> RLlib 2.60 new-stack name:
sample_batch_size -> env_runners.rollout_fragment_length; train_batch_size ->
training.train_batch_size_per_learner; sgd_minibatch_size -> training.minibatch_size;
num_sgd_iter -> training.num_epochs; lambda -> training.lambda_.

Batch: Table 1 prints ``train_batch_size`` 5000, but old RLlib's PPO sampled whole rounds
of 8 workers x 8 envs x ``sample_batch_size`` 100 = 6400 env steps until it had 5000 and
trained on all of them: every PPO log of the paper (3 envs, shared and independent) has
``timesteps_this_iter`` 6400 (``docs/data/paper_logs.csv``). psmarl's default is 6400,
sampled as 100 steps per env on 8 x 8 (``rollout_fragment_length: auto``).
"""

from psmarl.methods.spec import MethodSpec

PAPER_MODEL = {"fcnet_hiddens": [400, 300], "fcnet_activation": "relu", "vf_share_layers": True}


def _base():
    from psmarl.methods.ppo_rllib import PaperPPOConfig

    return PaperPPOConfig()


PPO = MethodSpec(
    name="ppo",
    family="policy_gradient",
    action_kinds=frozenset({"discrete", "continuous"}),
    base_config=_base,
    defaults={
        "training": {
            "lr": 5e-5,
            "gamma": 0.99,
            "lambda_": 0.95,
            "kl_coeff": 0.5,
            "entropy_coeff": 0.01,
            "num_epochs": 10,
            "minibatch_size": 500,
            "train_batch_size_per_learner": 6400,
            "vf_clip_param": 10.0,
            "clip_param": 0.1,
            # old RLlib's value clipping (psmarl.methods.ppo_rllib): the value moves at most
            # vf_clip_param per batch; RLlib 2 instead zeroes the value gradient of every
            # sample whose squared error exceeds vf_clip_param
            "vf_clip_to_previous": True,
        },
        "model": PAPER_MODEL,
        # the paper's sample_batch_size 100 only fits when train_batch_size is a multiple of
        # (runners x envs per runner x 100); "auto" lets RLlib split the batch evenly.
        "env_runners": {"rollout_fragment_length": "auto"},
        "clip_rewards": True,
    },
    description="Proximal Policy Optimization (Schulman et al., 2017)",
    limits={
        "training.lr": (0, None),
        "training.gamma": (0, 1),
        "training.lambda_": (0, 1),
        "training.clip_param": (0, None),
        "training.num_epochs": (1, None),
        "training.minibatch_size": (1, None),
        "training.train_batch_size_per_learner": (1, None),
        "training.entropy_coeff": (0, None),
        "training.kl_coeff": (0, None),
    },
)
