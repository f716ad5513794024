"""Mean lidar reading per ray of multiwalker's walkers under random play, with the paper's
copy of the game's bodies (env option ``paper_bodies``) and with ``multiwalker_v9``'s.

    .venv/bin/python scripts/probe_multiwalker_lidar.py --episodes 20

A reading is the fraction of the ray's range (160 / 30 units) at which it stops; ray 0
points straight down, ray 9 about 86 degrees forward. In ``multiwalker_v9`` the steep rays
stop on the walker's own legs; with the paper's bodies they reach the ground
(docs/fidelity.md, multiwalker lidar).
"""

from __future__ import annotations

import argparse

import numpy as np

from psmarl import envs
from psmarl.envs import make_parallel_env

LIDAR = slice(14, 24)  # the 10 lidar fractions in a walker's own 24 readings


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    for bodies in (False, True):
        settings = envs.resolve(
            "multiwalker",
            "paper",
            kwargs={"terrain_length": 75 if bodies else 200},
            options={"paper_bodies": bodies},
        )
        env = make_parallel_env(settings)
        rng = np.random.default_rng(a.seed)
        readings = []
        for ep in range(a.episodes):
            env.reset(seed=a.seed + ep)
            while env.agents:
                acts = {
                    k: np.clip(rng.normal(0, 1, 4), -1, 1).astype(np.float32) for k in env.agents
                }
                obs, *_ = env.step(acts)
                readings += [o[LIDAR] for o in obs.values()]
        name = "paper's bodies" if bodies else "multiwalker_v9's"
        print(f"{name:16s} rays 0-9:", " ".join(f"{v:.3f}" for v in np.mean(readings, axis=0)))


if __name__ == "__main__":
    main()
