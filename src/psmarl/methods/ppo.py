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

from __future__ import annotations

from dataclasses import dataclass

from psmarl.methods.spec import MethodSpec, copied, settings_defaults


@dataclass(frozen=True)
class PaperModel:
    """RLlib's model settings (``DefaultModelConfig``): the paper's network (Table 4)."""

    fcnet_hiddens: list[int] = copied([400, 300])
    """hidden layer sizes of the MLP (Table 4: [400, 300])"""
    fcnet_activation: str = "relu"
    """activation of those layers (ReLU)"""
    vf_share_layers: bool = True
    """the value function shares the policy's hidden layers (Table 1 vf_share_layers: True)"""


#: the paper's network as a mapping (other families build their model groups from it)
PAPER_MODEL = settings_defaults(PaperModel)


@dataclass(frozen=True)
class AutoFragment:
    """RLlib's env_runners settings of the synchronous on-policy methods."""

    rollout_fragment_length: int | str = "auto"
    """env steps per env per sample; the paper's sample_batch_size 100 only fits when
    train_batch_size is a multiple of (runners x envs per runner x 100): "auto" lets RLlib
    split the batch evenly (6400 on 8 x 8: 100 per env)"""


@dataclass(frozen=True)
class PPOTraining:
    """RLlib's PPO training settings: the paper's Table 1 (old RLlib names in the module
    docstring)."""

    lr: float = 5e-5
    """learning rate (old RLlib PPO's default; Table 1 lists none)"""
    gamma: float = 0.99
    """discount (Table 4)"""
    lambda_: float = 0.95
    """GAE lambda (Table 1 lambda)"""
    kl_coeff: float = 0.5
    """initial coefficient of the KL penalty (Table 1)"""
    entropy_coeff: float = 0.01
    """entropy bonus coefficient (Table 1)"""
    num_epochs: int = 10
    """passes over each train batch (Table 1 num_sgd_iter)"""
    minibatch_size: int = 500
    """samples per gradient step (Table 1 sgd_minibatch_size)"""
    train_batch_size_per_learner: int = 6400
    """env steps per update: Table 1 prints 5000, but old RLlib sampled whole rounds of 8
    workers x 8 envs x 100 steps and trained on all 6400 (every PPO log of the paper:
    timesteps_this_iter 6400, docs/data/paper_logs.csv)"""
    vf_clip_param: float = 10.0
    """value clipping range (Table 1)"""
    clip_param: float = 0.1
    """PPO's policy-ratio clip (Table 1)"""
    vf_clip_to_previous: bool = True
    """old RLlib's value clipping (psmarl.methods.ppo_rllib): the value moves at most
    vf_clip_param per batch; RLlib 2 instead zeroes the value gradient of every sample whose
    squared error exceeds vf_clip_param"""
    shuffle_first_epoch: bool = False
    """shuffle the train batch before the first epoch too, as old RLlib did
    (shuffle_sequences); RLlib 2.60's minibatch iterator cuts the first epoch in the
    batch's own order (agent by agent, trajectory by trajectory) and reshuffles only from
    the second on (psmarl.methods.ppo_rllib)"""


@dataclass(frozen=True)
class PPOSettings:
    """PPO's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: PPOTraining = copied(PPOTraining())
    """RLlib's training() settings"""
    model: PaperModel = copied(PaperModel())
    """RLlib's model settings"""
    env_runners: AutoFragment = copied(AutoFragment())
    """RLlib's env_runners() settings"""
    clip_rewards: bool | float = True
    """sign-clip training rewards as old RLlib (Table 1 clip_rewards: True); a number c
    clips to [-c, c]"""


def _base():
    from psmarl.methods.ppo_rllib import PaperPPOConfig

    return PaperPPOConfig()


PPO = MethodSpec(
    name="ppo",
    family="policy_gradient",
    action_kinds=frozenset({"discrete", "continuous"}),
    base_config=_base,
    defaults=settings_defaults(PPOSettings),
    settings=PPOSettings,
    description="Proximal Policy Optimization (Schulman et al., 2017)",
    batch_in_rounds=True,
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
