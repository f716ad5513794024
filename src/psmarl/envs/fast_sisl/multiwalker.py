"""Fast multiwalker: PettingZoo 1.25's ``multiwalker_v9.parallel_env`` without the AEC cycle.

The game object is PettingZoo's own ``MultiWalkerEnv`` (``.env``, where
``envs/wrappers.PackageDropReward`` reads ``game_over`` and the package's position): its
Box2D world, contact listener, walkers, terrain and reset. One parallel step applies
every live walker's action and steps the world once, instead of PettingZoo's AEC cycle
(per agent turn: an observation copy, two wrappers' action checks, reward, termination
and agent-order bookkeeping).

Two pieces of the game's step are psmarl's own, equal to PettingZoo's number for number:
the motor settings of an action (PettingZoo's ``apply_action``, in float32 as there, for
all walkers at once) and the bookkeeping after the physics step (``scroll_subroutine``:
the walkers' own sensor readings stay PettingZoo's ``get_observation``, the noisy
neighbour and package readings come from one vector draw of the game's generator, in
the same order and with the same means as its one-by-one draws).

What a parallel step returns, as PettingZoo's conversion builds it: observations,
rewards and terminations of the walkers alive at the start of the step; the reward is
the game's last reward of the walker (``0 +`` it: the conversion's sum over agent turns,
where the other turns pay 0); ``max_cycles`` ends the episode as a termination (not a
truncation: ``multiwalker_v9`` does so); a terminated walker leaves ``agents``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pettingzoo import ParallelEnv
from pettingzoo.sisl.multiwalker.multiwalker_base import (
    FPS,
    MOTORS_TORQUE,
    SCALE,
    SPEED_HIP,
    SPEED_KNEE,
    TERRAIN_GRASS,
    TERRAIN_LENGTH,
    TERRAIN_STEP,
    VIEWPORT_W,
    WALKER_SEPERATION,
    MultiWalkerEnv,
)

from psmarl.envs.fast_sisl import GameEnv, box_action, settle_kwargs

#: multiwalker_v9's keyword arguments and defaults (PettingZoo 1.25 ``MultiWalkerEnv``)
DEFAULTS: dict[str, Any] = dict(
    n_walkers=3,
    position_noise=1e-3,
    angle_noise=1e-3,
    forward_reward=1.0,
    terminate_reward=-100.0,
    fall_reward=-10.0,
    shared_reward=True,
    terminate_on_fall=True,
    remove_on_fall=True,
    terrain_length=TERRAIN_LENGTH,
    max_cycles=500,
    render_mode=None,
)


def unsupported(kw: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    if kw.get("render_mode") is not None:
        out["render_mode"] = "no rendering"
    for key in ("n_walkers", "max_cycles"):
        v = kw.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            out[key] = f"must be a positive integer, got {v!r}"
    return out


# per joint (hip, knee, hip, knee): motor speed per unit of action sign, and the torque
SPEEDS = np.array([SPEED_HIP, SPEED_KNEE, SPEED_HIP, SPEED_KNEE], dtype=np.float32)
TORQUE = np.float32(MOTORS_TORQUE)


def parallel_env(**kwargs) -> ParallelEnv:
    """psmarl's fast ``multiwalker_v9.parallel_env`` (same arguments, same steps)."""
    return FastMultiwalker(**kwargs)


class FastMultiwalker(GameEnv, ParallelEnv):
    metadata = {
        "render_modes": [],
        "name": "multiwalker_v9",
        "is_parallelizable": True,
        "render_fps": FPS,
        "psmarl_backend": "fast",
    }

    def __init__(self, **kwargs):
        kw = settle_kwargs("multiwalker", kwargs, DEFAULTS, unsupported)
        self.kwargs = kw
        game = MultiWalkerEnv(**kw)
        self._set_game(game, "walker", game.n_walkers)
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self.state_space = self.env.state_space

    def state(self):
        return self.env.state()

    def step(self, actions: Mapping[str, Any]):
        if not self.agents:
            return {}, {}, {}, {}, {}
        game = self.env
        agents = self.agents
        index = [self._index[a] for a in agents]
        act = self._actions(actions)
        speeds = (SPEEDS * np.sign(act)).tolist()
        torques = (TORQUE * np.clip(np.abs(act), 0, 1)).tolist()
        for i, speed, torque in zip(index, speeds, torques):
            walker = game.walkers[i]
            assert walker.hull is not None, i
            for joint, s, t in zip(walker.joints, speed, torque):
                joint.motorSpeed = s
                joint.maxMotorTorque = t
        game.world.Step(1.0 / FPS, 6 * 30, 2 * 30)
        rewards, done, obs = self._scroll()
        game.last_obs = obs
        local = rewards * game.local_ratio
        game.last_rewards = rewards.mean() * (1.0 - game.local_ratio) + local * game.local_ratio
        game.last_dones = done
        game.frames += 1

        paid = np.zeros(len(agents)) + game.last_rewards[index]
        if game.frames >= game.max_cycles:
            done = [True] * len(agents)
        else:
            done = [done[i] for i in index]
        observations = {a: np.array(obs[i], dtype=np.float32) for a, i in zip(agents, index)}
        out_rewards = dict(zip(agents, paid))
        terminations = dict(zip(agents, done))
        truncations = dict.fromkeys(agents, False)
        infos = {a: self._infos[a] for a in agents}
        self.agents = [a for a, d in zip(agents, done) if not d]
        return observations, out_rewards, terminations, truncations, infos

    def _actions(self, actions: Mapping[str, Any]) -> np.ndarray:
        """The live walkers' actions as float32 rows, after PettingZoo's out-of-bounds
        clipping (``box_action``), as its ``raw_env.step`` converts them."""
        values = [actions[a] for a in self.agents]
        try:
            arr = np.stack(values)
        except (TypeError, ValueError):
            arr = None
        if arr is not None and arr.dtype == np.float32 and arr.shape[1:] == (4,):
            space = self.action_spaces[self.agents[0]]
            inside = ((arr >= space.low) & (arr <= space.high)).all(axis=1)
            if inside.all():
                return arr
        rows = [
            np.array(box_action(self.action_spaces[a], v), dtype=np.float32).reshape(4)
            for a, v in zip(self.agents, values)
        ]
        return np.stack(rows)

    def _scroll(self):
        """The game's ``scroll_subroutine``: per-walker observations, rewards and dones
        after a physics step (the game's state updated as it does)."""
        game = self.env
        n = game.n_walkers
        walkers = game.walkers
        length = game.package_length
        package = game.package
        px, py = package.position.x, package.position.y
        xpos = np.zeros(n)
        rewards = np.zeros(n)
        own, means, scales, live = {}, [], [], []
        for i, walker in enumerate(walkers):
            if walker.hull is None:
                continue
            pos = walker.hull.position
            x, y = pos.x, pos.y
            xpos[i] = x
            own[i] = walker.get_observation()
            live.append(i)
            for j in (i - 1, i + 1):
                if 0 <= j < n and walkers[j].hull is not None:
                    other = walkers[j].hull.position
                    means += [(other.x - x) / length, (other.y - y) / length]
                    scales += [game.position_noise, game.position_noise]
            means += [(px - x) / length, (py - y) / length, package.angle]
            scales += [game.position_noise, game.position_noise, game.angle_noise]
        draws = game.np_random.normal(means, scales).tolist() if means else []

        obs, k = [], 0
        for i in range(len(walkers)):
            if i not in own:
                obs.append(np.zeros_like(game.observation_space[i].low))
                continue
            near = []
            for j in (i - 1, i + 1):
                if 0 <= j < n and walkers[j].hull is not None:
                    near += draws[k : k + 2]
                    k += 2
                else:
                    near += [0.0, 0.0]
            near += draws[k : k + 3]
            k += 3
            obs.append(np.array(own[i] + near))
            shaping = -5.0 * abs(own[i][0])
            rewards[i] = shaping - game.prev_shaping[i]
            game.prev_shaping[i] = shaping

        package_shaping = game.forward_reward * 130 * px / SCALE
        rewards += package_shaping - game.prev_package_shaping
        game.prev_package_shaping = package_shaping
        game.scroll = (
            xpos.mean() - VIEWPORT_W / SCALE / 5 - (n - 1) * WALKER_SEPERATION * TERRAIN_STEP
        )

        done = [False] * n
        for i, (fallen, walker) in enumerate(zip(game.fallen_walkers, walkers)):
            if fallen:
                rewards[i] += game.fall_reward
                if game.remove_on_fall:
                    walker._destroy()
                if not game.terminate_on_fall:
                    rewards[i] += game.terminate_reward
                done[i] = True
        if (
            (game.terminate_on_fall and np.sum(game.fallen_walkers) > 0)
            or game.game_over
            or package.position.x < 0
        ):
            rewards += game.terminate_reward
            done = [True] * n
        elif package.position.x > (game.terrain_length - TERRAIN_GRASS) * TERRAIN_STEP:
            done = [True] * n
        return rewards, done, obs
