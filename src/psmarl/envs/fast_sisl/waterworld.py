"""Fast waterworld: PettingZoo 1.25's ``waterworld_v4.parallel_env`` without the AEC cycle.

The game object is PettingZoo's own ``WaterworldBase``: its pymunk space, collision
callbacks (which draw the respawn positions from its generator), per-agent action code
(thrust, speed clip, thrust penalty) and reset. What this module does differently:

- one parallel step calls the game's per-agent action code for every pursuer in order,
  then steps the physics once, instead of PettingZoo's AEC cycle (per agent turn: an
  observation copy, the action-space check of two wrappers, reward and termination dicts
  rebuilt);
- the sensor readings of all pursuers (PettingZoo's ``observe_list``: one numpy call
  chain per pursuer and object, 80-90% of a step) come from one vectorised pass over
  every (pursuer, object, sensor). The only non-elementwise operation, the projection of
  each offset on the sensor directions, is the same BLAS matrix-vector product as
  PettingZoo's (``sensors @ offset`` batched over offsets: bitwise the same result; an
  elementwise ``x*c + y*s`` differs in the last bit where BLAS fuses multiply and add).

The parallel reward of a pursuer is, as PettingZoo's conversion adds it, the sum over the
agent turns of the thrust penalties (``control_rewards`` after each turn), the last turn's
plus the behaviour rewards (food, encounter, poison, mixed by ``local_ratio``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pettingzoo import ParallelEnv
from pettingzoo.sisl.waterworld.waterworld_base import FPS, WaterworldBase

from psmarl.envs.fast_sisl import GameEnv, box_action, settle_kwargs

#: waterworld_v4's keyword arguments and defaults (PettingZoo 1.25 ``WaterworldBase``)
DEFAULTS: dict[str, Any] = dict(
    n_pursuers=2,
    n_evaders=5,
    n_poisons=10,
    n_obstacles=1,
    n_coop=1,
    n_sensors=30,
    sensor_range=0.2,
    radius=0.015,
    obstacle_radius=0.1,
    obstacle_coord=[(0.5, 0.5)],
    pursuer_max_accel=0.5,
    pursuer_speed=0.2,
    evader_speed=0.1,
    poison_speed=0.1,
    poison_reward=-1.0,
    food_reward=10.0,
    encounter_reward=0.01,
    thrust_penalty=-0.5,
    local_ratio=1.0,
    speed_features=True,
    max_cycles=500,
    render_mode=None,
    FPS=FPS,
)


def unsupported(kw: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    if kw.get("render_mode") is not None:
        out["render_mode"] = "no rendering"
    for key in ("n_pursuers", "n_evaders", "n_poisons", "n_obstacles", "n_sensors", "max_cycles"):
        v = kw.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            out[key] = (
                f"must be a positive integer, got {v!r} (PettingZoo's observation fails on 0)"
            )
    return out


def parallel_env(**kwargs) -> ParallelEnv:
    """psmarl's fast ``waterworld_v4.parallel_env`` (same arguments, same steps)."""
    return FastWaterworld(**kwargs)


def _readings(sensors, pos, vel, objects, radius, speed_sum, sensor_range, with_velocity):
    """Sensor readings of every pursuer of the objects given per pursuer.

    ``pos``/``vel`` (P, 2): the pursuers; ``objects`` (positions, velocities), each
    (P, M, 2): the M objects pursuer p reads; ``radius``: the objects' radius;
    ``speed_sum``: their top speed + the pursuers'. Returns the closest reading per sensor,
    distance (P, S) and velocity (P, S) (None without ``with_velocity``), as PettingZoo's
    ``get_sensor_reading`` + ``get_sensor_readings`` compute them.
    """
    opos, ovel = objects
    p, m = opos.shape[:2]
    offset = opos - pos[:, None, :]
    dist2 = offset[..., 0] ** 2 + offset[..., 1] ** 2  # (P, M)
    proj = (sensors @ offset.reshape(p * m, 2, 1)).reshape(p, m, -1)  # (P, M, S)
    not_sensed = (
        (proj < 0) | (proj - radius > sensor_range) | (dist2[..., None] - proj**2 > radius**2)
    )
    dist = np.clip(proj / sensor_range, 0, 1)
    dist[not_sensed] = 1.0
    dist_out = np.amin(dist, axis=1)
    if not with_velocity:
        return dist_out, None
    closest = np.argmin(dist, axis=1)[:, None, :]  # (P, 1, S): first minimum over objects
    rel = (ovel - vel[:, None, :]).reshape(p * m, 2, 1)
    speed = ((sensors @ rel) / speed_sum).reshape(p, m, -1)
    speed[not_sensed] = 0.0
    return dist_out, np.take_along_axis(speed, closest, axis=1)[:, 0, :]


def _barrier_readings(sensors, pos, sensor_range, pixel_scale):
    """Distance fraction to the square's walls along each sensor (P, S)."""
    reach = sensors * sensor_range  # (S, 2)
    ends = np.clip(pos[:, None, :] + reach[None], 0.0, pixel_scale)
    clipped = ends - pos[:, None, :]
    ratios = np.divide(
        clipped,
        np.broadcast_to(reach, clipped.shape),
        out=np.ones_like(clipped),
        where=np.broadcast_to(np.abs(reach) > 1e-8, clipped.shape),
    )
    values = np.amin(ratios, axis=2)
    values[~(values < (1.0 - 1e-4))] = 1.0
    values[values == -0] = 0  # -0.0 -> 0.0, as PettingZoo does
    return values


def observe_all(game: WaterworldBase) -> np.ndarray:
    """Every pursuer's observation (float64, (n_pursuers, obs_dim)), equal to PettingZoo's
    ``observe_list()`` row for row."""
    purs = game.pursuers
    first = purs[0]
    sensors, srange, top = first.sensors, first.sensor_range, first.max_speed
    n = len(purs)
    pos = np.array([tuple(q.body.position) for q in purs])
    vel = np.array([tuple(q.body.velocity) for q in purs])
    speed = game.speed_features

    def read(objs, object_speed, velocity):
        # every object of a kind has the same radius (PettingZoo builds them so)
        op = np.array([tuple(o.body.position) for o in objs])
        ov = np.array([tuple(o.body.velocity) for o in objs])
        shape = (n,) + op.shape
        return _readings(
            sensors,
            pos,
            vel,
            (np.broadcast_to(op, shape), np.broadcast_to(ov, shape)),
            objs[0].radius,
            object_speed + top,
            srange,
            velocity,
        )

    parts = [
        read(game.obstacles, 0.0, False)[0],
        _barrier_readings(sensors, pos, srange, first.pixel_scale),
    ]
    for objs, object_speed in (
        (game.evaders, game.evader_speed),
        (game.poisons, game.poison_speed),
    ):
        d, v = read(objs, object_speed, speed)
        parts += [d, v] if speed else [d]
    if n > 1:  # the other pursuers, in index order
        others = np.array([[j for j in range(n) if j != i] for i in range(n)])
        d, v = _readings(
            sensors,
            pos,
            vel,
            (pos[others], vel[others]),
            first.radius,
            game.pursuer_speed + top,
            srange,
            speed,
        )
    else:
        d = v = np.zeros((1, game.n_sensors))
    parts += [d, v] if speed else [d]
    food = [[1.0 if q.shape.food_touched_indicator >= 1 else 0.0] for q in purs]
    poison = [[1.0 if q.shape.poison_indicator >= 1 else 0.0] for q in purs]
    return np.concatenate(parts + [np.array(food), np.array(poison)], axis=1)


class FastWaterworld(GameEnv, ParallelEnv):
    metadata = {
        "render_modes": [],
        "name": "waterworld_v4",
        "is_parallelizable": True,
        "render_fps": FPS,
        "psmarl_backend": "fast",
    }

    def __init__(self, **kwargs):
        kw = settle_kwargs("waterworld", kwargs, DEFAULTS, unsupported)
        self.kwargs = kw
        game = WaterworldBase(**kw)
        self._set_game(game, "pursuer", game.num_agents)

    def step(self, actions: Mapping[str, Any]):
        if not self.agents:
            return {}, {}, {}, {}, {}
        game = self.env
        agents = self.agents
        total = np.zeros(len(agents))
        last = len(agents) - 1
        for i, agent in enumerate(agents):
            game.step(box_action(self.action_spaces[agent], actions[agent]), i, False)
            if i < last:
                total += game.control_rewards  # this turn's thrust penalties
        control = game.control_rewards

        # the game's last-turn work: physics, observations, behaviour rewards
        game.space.step(1 / game.FPS)
        obs = observe_all(game)
        game.last_obs = list(obs)
        for i, q in enumerate(game.pursuers):
            game.behavior_rewards[i] = (
                game.food_reward * q.shape.food_indicator
                + game.encounter_reward * q.shape.food_touched_indicator
                + game.poison_reward * q.shape.poison_indicator
            )
            q.shape.food_indicator = 0
            q.shape.poison_indicator = 0
        rewards = np.array(game.behavior_rewards) + np.array(control)
        game.last_rewards = rewards * game.local_ratio + rewards.mean() * (1 - game.local_ratio)
        game.frames += 1
        total += control + game.last_rewards

        obs32 = obs.astype(np.float32)
        truncated = game.frames >= game.max_cycles
        observations = dict(zip(agents, obs32))
        out_rewards = dict(zip(agents, total))
        terminations = dict(zip(agents, game.last_dones))
        truncations = dict.fromkeys(agents, truncated)
        infos = dict(self._infos)
        if truncated:
            self.agents = []
        return observations, out_rewards, terminations, truncations, infos
