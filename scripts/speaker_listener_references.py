"""Scripted reference returns for speaker_listener (docs/heterogeneous.md).

    python scripts/speaker_listener_references.py --episodes 100 --seed 1000000

Plays the `padded` preset with the evaluator's seeds (seed, seed+1, ...) and three
hand-written listener controllers (the speaker always says word 0):

* still:    the listener never moves;
* centroid: it steers to the centre of the three landmarks, ignoring the speaker (the
            best a listener can do without communication, roughly);
* oracle:   it steers to the goal landmark, read from the simulator (what perfect
            communication would allow, roughly).

Steering: target minus 0.5 x velocity, move along its larger axis, stop within 0.05.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from psmarl import envs


def _move(target: np.ndarray, vel: np.ndarray, damping: float = 0.5) -> int:
    d = target - damping * vel
    if np.abs(d).max() < 0.05:
        return 0
    if abs(d[0]) >= abs(d[1]):
        return 2 if d[0] > 0 else 1  # MPE: 1 = -x, 2 = +x, 3 = -y, 4 = +y
    return 4 if d[1] > 0 else 3


def play(controller: str, episodes: int, seed: int) -> np.ndarray:
    env = envs.make_parallel_env(envs.resolve("speaker_listener"))
    world = env.unwrapped.world
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total = 0.0
        while env.agents:
            o = obs["listener_0"]
            vel, landmarks = o[0:2], o[2:8].reshape(3, 2)
            if controller == "still":
                a = 0
            elif controller == "centroid":
                a = _move(landmarks.mean(axis=0), vel)
            else:
                goal = next(
                    j for j, lm in enumerate(world.landmarks) if lm is world.agents[0].goal_b
                )
                a = _move(landmarks[goal], vel)
            obs, rew, *_ = env.step({"speaker_0": 0, "listener_0": a})
            total += float(sum(rew.values()))
        returns.append(total)
    env.close()
    return np.asarray(returns)


def main() -> None:
    from scipy import stats

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, default=1_000_000)
    a = p.parse_args()
    for controller in ("still", "centroid", "oracle"):
        x = play(controller, a.episodes, a.seed)
        half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
        print(
            f"{controller:9s} mean {x.mean():8.1f}  95% CI [{x.mean() - half:.1f}, "
            f"{x.mean() + half:.1f}]  over {len(x)} plays"
        )


if __name__ == "__main__":
    main()
