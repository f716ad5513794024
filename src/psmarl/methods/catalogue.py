"""The catalogue of trainable methods: every method ``psmarl train`` can run, in one list.

Adding a method is one module that builds a :class:`psmarl.methods.spec.MethodSpec` (see
``ppo.py``; a BenchMARL one sets ``backend="benchmarl"``, see ``benchmarl.py``) and one
entry in :data:`METHODS` below; :mod:`psmarl.methods` registers every entry when it is
imported.
"""

from __future__ import annotations

from psmarl.methods import actor_critic, benchmarl, ddpg, dqn, impala, ppo, sac
from psmarl.methods.spec import MethodSpec

METHODS: tuple[MethodSpec, ...] = (
    # RLlib (psmarl.train)
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
    # BenchMARL (psmarl.benchmarl_backend.train): the paper's Appendix C baselines
    benchmarl.MADDPG,
    benchmarl.QMIX,
)
