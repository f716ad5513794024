"""The catalogue of environments: every env psmarl can train on, in one list.

Adding an environment is one module that builds a :class:`psmarl.envs.spec.EnvSpec` (see
``mpe.py``) and one entry in :data:`ENVS` below; :mod:`psmarl.envs` registers every entry
when it is imported (``docs/extending.md``).
"""

from __future__ import annotations

from psmarl.envs import mpe, sisl
from psmarl.envs.spec import EnvSpec

ENVS: tuple[EnvSpec, ...] = (
    sisl.PURSUIT,
    sisl.WATERWORLD,
    sisl.MULTIWALKER,
    mpe.SPEAKER_LISTENER,
)
