"""Environment registry. Importing this package registers the built-in environments."""

from psmarl.envs import (
    mpe,  # noqa: F401  (registers speaker_listener)
    sisl,  # noqa: F401  (registers pursuit, waterworld, multiwalker)
)
from psmarl.envs.registry import (  # noqa: F401
    AGENT_INDICATION,
    EnvSpec,
    Preset,
    agent_ids,
    backend_of,
    get,
    make_parallel_env,
    names,
    register,
    resolve,
)
