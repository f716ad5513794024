"""The catalogue of RLlib methods: every method ``psmarl train`` can run, in one list.

Adding a method is one module that builds a :class:`psmarl.methods.spec.MethodSpec` (see
``ppo.py``) and one entry in :data:`METHODS` below; :mod:`psmarl.methods` registers every
entry when it is imported. The MADDPG and QMIX baselines (BenchMARL) are a separate
catalogue, :mod:`psmarl.marl`.
"""

from __future__ import annotations

from psmarl.methods import actor_critic, ddpg, dqn, impala, ppo, sac
from psmarl.methods.spec import MethodSpec

METHODS: tuple[MethodSpec, ...] = (
    ppo.PPO,
    impala.IMPALA,
    actor_critic.A2C,
    actor_critic.TRPO,
    dqn.DQN,
    dqn.RAINBOW,
    dqn.APEX_DQN,
    ddpg.DDPG,
    ddpg.TD3,
    ddpg.APEX_DDPG,
    sac.SAC,
)
