"""Wrappers applied identically in training, evaluation and baselines.

The standard stack is one parallel wrapper for the observations (:class:`ObservationMap`)
and one for padded actions (:class:`ActionMap`): SuperSuit's parallel wrappers convert a
parallel env to an AEC env and back, which cost more than a step of psmarl's fast envs.
Each transform is SuperSuit's (flatten, dtype, padding: the same functions and spaces)
or psmarl's own (the agent indications); ``tests/test_wrappers.py`` checks the stack
against SuperSuit's wrappers observation for observation.

Order (see docs/heterogeneous.md): flatten box observations and cast them to float32,
then pad observations (``pad_observations``), then add the agent indication (``scalar``:
the agent's index i as one number, ``scalar_over_n``: i / N, ``scalar_plus_one``: i + 1;
``onehot``: a one-hot vector of length N), then pad the
action spaces (``pad_actions``). A padded observation of agent ``i`` is therefore
``(obs_i, 0, ..., 0, indication_i)`` as in the paper's Appendix A.2.1.

Rule for padded actions (``pad_actions``), applied by the env itself, so training,
evaluation and the random baseline all go through the same code:

* Discrete: every agent gets ``Discrete(max_i n_i)``. An index ``a < n_i`` is passed on
  unchanged; an index ``a >= n_i`` (only reachable through padding) becomes action ``0``
  of that agent (SuperSuit's rule; in MPE action 0 is "no move" for movers and word 0
  for a speaker).
* Box: every agent gets one Box of the largest shape whose bounds cover all agents'
  bounds (SuperSuit's ``homogenize_spaces``). A padded action is trimmed to the agent's
  own shape (the leading entries are kept, the rest discarded) and clipped to the agent's
  own bounds, which SuperSuit does not do (the union of the bounds can be wider than one
  agent's).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import supersuit as ss
from gymnasium.spaces import Box, Discrete
from pettingzoo.utils.wrappers import BaseParallelWrapper
from supersuit.utils.action_transforms import homogenize_ops

from psmarl.errors import ConfigError

#: attribute set on the outermost wrapper: agent -> its own (unpadded) action space
REAL_ACTION_SPACES = "psmarl_real_action_spaces"


def _key(name: str | None, option: str) -> str:
    return f"envs.{name}.{option}" if name else option


def _describe(spaces: Mapping[str, Any]) -> str:
    return ", ".join(f"{a}: {s}" for a, s in spaces.items())


# the appended number of each scalar indication, from the agent's index i among N agents
SCALAR_INDEX = {
    "scalar": lambda i, n: float(i),  # psmarl's (and SuperSuit's) index
    "scalar_over_n": lambda i, n: i / n,  # the paper's pursuit and multiwalker copies
    "scalar_plus_one": lambda i, n: float(i + 1),  # the paper's waterworld copy
}


def _scalar_index(agents: list[str], kind: str = "scalar"):
    """Append one number that names the agent to its observation (``SCALAR_INDEX[kind]``
    of its position i among the N ``possible_agents``): (obs_fn, space_fn).

    The paper's code did this (a scalar id as the last observation entry): i / N on
    pursuit and multiwalker, i + 1 on waterworld.
    """
    index = {a: np.float32(SCALAR_INDEX[kind](i, len(agents))) for i, a in enumerate(agents)}
    hi = max(index.values(), default=np.float32(0.0))

    def obs_fn(obs, obs_space, agent):
        return np.append(np.asarray(obs, dtype=np.float32).ravel(), index[agent])

    def space_fn(space, agent=None):
        low = np.append(np.asarray(space.low, dtype=np.float32).ravel(), np.float32(0.0))
        high = np.append(np.asarray(space.high, dtype=np.float32).ravel(), hi)
        return Box(low=low, high=high, dtype=np.float32)

    return obs_fn, space_fn


def _onehot_index(agents: list[str]):
    """Append a one-hot vector of the agent's index (length N, entries 0 and 1):
    (obs_fn, space_fn).

    SuperSuit's ``agent_indicator_v0`` writes ``max(high)`` of the observation space
    instead of 1 where the bounds are finite, which is 0 (no indication at all) for a
    space whose upper bounds are all 0, and it needs one space for all agents; this one
    always writes 1 and works per agent. Discrete observations still use SuperSuit's.
    """
    n = len(agents)
    eye = np.eye(n, dtype=np.float32)
    row = {a: eye[i] for i, a in enumerate(agents)}

    def obs_fn(obs, obs_space, agent):
        return np.concatenate([np.asarray(obs, dtype=np.float32).ravel(), row[agent]])

    def space_fn(space, agent=None):
        low = np.concatenate(
            [np.asarray(space.low, dtype=np.float32).ravel(), np.zeros(n, np.float32)]
        )
        high = np.concatenate(
            [np.asarray(space.high, dtype=np.float32).ravel(), np.ones(n, np.float32)]
        )
        return Box(low=low, high=high, dtype=np.float32)

    return obs_fn, space_fn


def _converted_box(convert, space):
    """SuperSuit's ``convert_box``: a Box whose bounds are the converted bounds."""
    low, high = convert(space.low), convert(space.high)
    return Box(low=low, high=high, dtype=low.dtype)


def _flatten():
    """SuperSuit's ``flatten_v0`` transform: (obs_fn, space_fn)."""
    return (
        lambda obs, space, agent: obs.flatten(),
        lambda space, agent: _converted_box(lambda x: x.flatten(), space),
    )


def _float32():
    """SuperSuit's ``dtype_v0(np.float32)`` transform: (obs_fn, space_fn)."""
    return (
        lambda obs, space, agent: obs.astype(np.float32),
        lambda space, agent: _converted_box(lambda x: x.astype(np.float32), space),
    )


def _padded(spaces: list[Any]):
    """SuperSuit's ``pad_observations_v0`` transform over these spaces: (obs_fn, space_fn)."""
    homogenize_ops.check_homogenize_spaces(spaces)
    padded = homogenize_ops.homogenize_spaces(spaces)
    return (
        lambda obs, space, agent: homogenize_ops.homogenize_observations(padded, obs),
        lambda space, agent: padded,
    )


class ObservationMap(BaseParallelWrapper):
    """Every agent's observation through a chain of transforms in one parallel wrapper.

    ``transforms``: (obs_fn(obs, space_in, agent), space_fn(space_in, agent)) pairs,
    applied in order; ``space_in`` is the agent's space before that transform.
    """

    def __init__(self, env, transforms):
        super().__init__(env)
        self._chain: dict[str, list] = {}
        self._spaces: dict[str, Any] = {}
        for agent in env.possible_agents:
            space, chain = env.observation_space(agent), []
            for obs_fn, space_fn in transforms:
                chain.append((obs_fn, space))
                space = space_fn(space, agent)
            self._chain[agent], self._spaces[agent] = chain, space

    def observation_space(self, agent):
        return self._spaces[agent]

    def _map(self, observations):
        out = {}
        for agent, obs in observations.items():
            for obs_fn, space in self._chain[agent]:
                obs = obs_fn(obs, space, agent)
            out[agent] = obs
        return out

    def reset(self, seed=None, options=None):
        observations, infos = self.env.reset(seed=seed, options=options)
        return self._map(observations), infos

    def step(self, actions):
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        return self._map(observations), rewards, terminations, truncations, infos


# ---------------------------------------------------------------- action padding
def padded_action_space(spaces: list[Any], name: str | None = None):
    """The one action space every agent gets under ``pad_actions`` (SuperSuit's rule)."""
    key = _key(name, "pad_actions")
    if all(isinstance(s, Discrete) for s in spaces):
        starts = sorted({int(s.start) for s in spaces})
        if starts != [0]:
            raise ConfigError(
                f"action padding needs Discrete spaces that start at 0, got start(s) {starts}",
                key=key,
            )
    elif all(isinstance(s, Box) for s in spaces):
        if len({len(s.shape) for s in spaces}) > 1 or len({s.dtype for s in spaces}) > 1:
            raise ConfigError(
                "action padding needs Box action spaces with the same number "
                "of dimensions and the same dtype, got " + "; ".join(str(s) for s in spaces),
                key=key,
            )
    else:
        raise ConfigError(
            "action padding needs all agents' action spaces to be Discrete, or "
            "all Box; got " + "; ".join(str(s) for s in spaces),
            key=key,
        )
    return homogenize_ops.homogenize_spaces(list(spaces))


def trim_action(action, real_space):
    """Map an action of the padded space to a valid action of ``real_space`` (module doc)."""
    if action is None:
        return None
    if isinstance(real_space, Discrete):
        a = int(action)
        return a if 0 <= a < int(real_space.n) else 0
    if isinstance(real_space, Box):
        a = np.asarray(action, dtype=real_space.dtype)
        a = homogenize_ops.dehomogenize_actions(real_space, a)  # keep the leading entries
        return np.clip(a, real_space.low, real_space.high).astype(real_space.dtype)
    raise TypeError(f"cannot trim an action for {real_space}")


class ActionMap(BaseParallelWrapper):
    """One padded action space for every agent (``pad_actions``): actions of the padded
    space are mapped to each agent's own space by :func:`trim_action`."""

    def __init__(self, env, name: str | None):
        super().__init__(env)
        self.real = {a: env.action_space(a) for a in env.possible_agents}
        self.padded = padded_action_space(list(self.real.values()), name)

    def action_space(self, agent):
        return self.padded

    def step(self, actions):
        return self.env.step({a: trim_action(act, self.real[a]) for a, act in actions.items()})


class PackageDropReward(BaseParallelWrapper):
    """Add ``reward`` to every walker's reward on the step at which the package falls.

    The paper's multiwalker copy (``sisl_games/multiwalker/multiwalker_base.py``) adds its
    ``drop_reward`` (-100) to every walker when the package touches the ground
    (``game_over``) or leaves the terrain to the left, beside the ``fall_reward`` of a
    fallen walker. ``multiwalker_v9`` has no such reward: its ``terminate_reward`` is also
    paid on every fall when ``terminate_on_fall`` is set, so it cannot stand in for it.
    This wrapper reads the base env's own flags on the step that ends the episode.
    """

    def __init__(self, env, reward: float):
        super().__init__(env)
        self.reward = float(reward)

    def _package_dropped(self) -> bool:
        base = self.env.unwrapped
        base = getattr(base, "env", base)  # raw_env -> MultiWalkerEnv
        return bool(base.game_over or base.package.position.x < 0)

    def step(self, actions):
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        if any(terms.values()) and self._package_dropped():
            rewards = {a: r + self.reward for a, r in rewards.items()}
        return obs, rewards, terms, truncs, infos


#: Box2D collision categories of the paper's multiwalker copy: ground, walker hull and upper
#: legs, lower legs (the package keeps 0x004 in both copies)
GROUND, HULL_AND_UPPER_LEG, LOWER_LEG = 0x001, 0x002, 0x020


@functools.cache
def _first_ground_hit() -> type:
    """The paper's lidar ray callback class (Box2D imported only by multiwalker): fixtures
    other than the ground are passed through (1: go on, unclipped), the first ground fixture
    reported ends the ray (0)."""
    from Box2D.b2 import rayCastCallback

    class FirstGroundHit(rayCastCallback):
        fraction = 1.0

        def ReportFixture(self, fixture, point, normal, fraction):
            if (fixture.filterData.categoryBits & GROUND) == 0:
                return 1
            self.p2 = point
            self.fraction = fraction
            return 0

    return FirstGroundHit


class PaperMultiwalkerBodies(BaseParallelWrapper):
    """The bodies, sensors and course end of the paper's multiwalker copy on PettingZoo's
    game (``sisl_games/multiwalker/multiwalker_base.py`` of the paper's repository against
    ``multiwalker_v9``, which share the walkers' shapes, joints, motors and terrain):

    - **collisions**: each walker's hull is category 0x002 and collides with everything
      (ground, package, other hulls); its upper (0x002) and lower (0x020) legs collide with
      the ground only. ``multiwalker_v9`` leaves every part in category 1, colliding with
      everything but the walker's own parts, so there the package can rest on legs, and its
      contact listener then takes a package touching a leg for a drop (``game_over``) and a
      hull touching another walker's leg for a fall;
    - **lidar**: the 10 rays see the ground only (category 1) and stop at the first ground
      fixture reported; ``multiwalker_v9``'s rays also hit every walker's legs and hull,
      their own legs included (all category 1 there), and take the nearest hit;
    - **course end**: the episode ends when the *last* walker's hull passes
      ``(terrain_length - 10)`` terrain steps (the paper's loop variable: ``multiwalker_v9``
      checks the package), on a course of ``terrain_length`` steps (the paper's
      ``int(200 * n_walkers / 8)``: 75 for 3 walkers; a kwarg of the env);
    - **reset** takes one physics step with zero actions and returns its observations, as
      the paper's ``reset()`` did; that step is not counted in ``max_cycles``.

    Not reproduced: the paper's neighbour and package noise came from numpy's global
    generator (here the game's own, the same distribution), and a walker leaving the
    course to the left ends the paper's episode as a drop (here the package doing so).
    """

    def reset(self, seed=None, options=None):
        self.env.reset(seed=seed, options=options)
        game = self._game()
        for walker in game.walkers:
            self._refilter(walker.hull, HULL_AND_UPPER_LEG, 0xFFFF)
            for k, leg in enumerate(walker.legs):
                self._refilter(leg, LOWER_LEG if k % 2 else HULL_AND_UPPER_LEG, GROUND)
            walker.lidar = [_first_ground_hit()() for _ in walker.lidar]
        zero = {
            a: np.zeros(self.action_space(a).shape, self.action_space(a).dtype) for a in self.agents
        }
        obs, _, _, _, infos = self.env.step(zero)
        game.frames = 0
        return obs, infos

    def step(self, actions):
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        from pettingzoo.sisl.multiwalker.multiwalker_base import TERRAIN_GRASS, TERRAIN_STEP

        game = self._game()
        last = game.walkers[-1].hull
        line = (game.terrain_length - TERRAIN_GRASS) * TERRAIN_STEP
        if last is not None and last.position.x > line and not all(terms.values()):
            terms = dict.fromkeys(terms, True)
            self.env.unwrapped.agents = []
        return obs, rewards, terms, truncs, infos

    def _game(self):
        base = self.env.unwrapped
        return getattr(base, "env", base)  # the parallel env -> MultiWalkerEnv

    @staticmethod
    def _refilter(body, category: int, mask: int) -> None:
        for fixture in body.fixtures:
            f = fixture.filterData
            f.categoryBits, f.maskBits, f.groupIndex = category, mask, 0
            fixture.filterData = f


class SquaredThrustPenalty(BaseParallelWrapper):
    """Add ``coef * sum(a ** 2)`` to each agent's reward for its own action ``a`` (clipped to
    [-1, 1]) at every step.

    The paper's waterworld copy (``sisl_games/waterworld/waterworld_base.py``) charged each
    pursuer ``control_penalty * sum((action_scale * a) ** 2)`` with ``control_penalty -0.5``
    and ``action_scale 0.01``: ``coef = -0.5 * 0.01 ** 2 = -5e-5``. ``waterworld_v4``'s own
    ``thrust_penalty`` is linear in the norm of the (differently scaled) thrust, so it cannot
    express it; the paper preset sets that one to 0 and this wrapper adds the paper's.
    """

    def __init__(self, env, coef: float):
        super().__init__(env)
        self.coef = float(coef)

    def step(self, actions):
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        rewards = dict(rewards)
        for agent, action in actions.items():
            if agent in rewards and action is not None:
                a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
                rewards[agent] = rewards[agent] + self.coef * float(np.sum(a * a))
        return obs, rewards, terms, truncs, infos


# ---------------------------------------------------------------- the standard stack
def apply_standard_wrappers(
    env,
    agent_indication: str = "none",
    pad_observations: bool = False,
    pad_actions: bool = False,
    name: str | None = None,
):
    """Flatten box observations to float32 vectors, then the optional padding/indication.

    ``name`` (the registry name) only makes error messages name the config key.
    Raises ConfigError when an option cannot apply to this env's spaces.
    """
    agents = list(env.possible_agents)
    obs_spaces = {a: env.observation_space(a) for a in agents}
    all_box = all(isinstance(s, Box) for s in obs_spaces.values())
    transforms = []

    def spaces_now():  # each agent's space after the transforms chosen so far
        out = {}
        for a, space in obs_spaces.items():
            for _, space_fn in transforms:
                space = space_fn(space, a)
            out[a] = space
        return out

    if all_box:
        if any(len(s.shape) > 1 for s in obs_spaces.values()):
            transforms.append(_flatten())
        if any(s.dtype != np.float32 for s in obs_spaces.values()):
            transforms.append(_float32())

    if pad_observations:
        if not all_box:
            raise ConfigError(
                "observation padding needs Box observations for every agent, got "
                + _describe(obs_spaces),
                key=_key(name, "pad_observations"),
            )
        transforms.append(_padded(list(spaces_now().values())))

    discrete_onehot = False
    if agent_indication in SCALAR_INDEX:
        if not all_box:
            raise ConfigError(
                f"agent_indication {agent_indication!r} appends a number to a Box "
                "observation, but the observations are "
                + _describe(spaces_now())
                + "; use 'onehot' or 'none'",
                key=_key(name, "agent_indication"),
            )
        transforms.append(_scalar_index(agents, agent_indication))
    elif agent_indication == "onehot":
        if all_box:
            transforms.append(_onehot_index(agents))
        elif (
            all(isinstance(s, Discrete) for s in obs_spaces.values())
            and len({repr(s) for s in obs_spaces.values()}) == 1
        ):
            discrete_onehot = True
        else:
            raise ConfigError(
                "agent_indication 'onehot' needs Box observations, or one Discrete "
                "observation space for all agents; got " + _describe(spaces_now()),
                key=_key(name, "agent_indication"),
            )
    elif agent_indication != "none":
        raise ConfigError(
            f"agent_indication must be one of none, {', '.join(SCALAR_INDEX)} "
            f"or onehot, got {agent_indication!r}",
            key=_key(name, "agent_indication"),
        )

    if transforms:
        env = ObservationMap(env, transforms)
    if discrete_onehot:
        env = ss.agent_indicator_v0(env, type_only=False)  # obs * N + index
    real_actions = {a: env.action_space(a) for a in agents}
    if pad_actions:
        env = ActionMap(env, name)
    setattr(env, REAL_ACTION_SPACES, real_actions)
    return env


def real_action_spaces(env) -> dict[str, Any]:
    """Each agent's own action space (what ``pad_actions`` maps padded actions back to)."""
    real = getattr(env, REAL_ACTION_SPACES, None)
    if real is None:
        return {a: env.action_space(a) for a in env.possible_agents}
    return dict(real)


def shared_policy_problem(
    obs_spaces: Mapping[str, Any], act_spaces: Mapping[str, Any], name: str
) -> ConfigError | None:
    """The error a shared policy over these (wrapped) spaces would hit, or None if it fits.

    One module serves every agent, so all agents need one observation shape and one
    action space; the message names the option that makes them so.
    """
    missing = []
    if len({s.shape if isinstance(s, Box) else repr(s) for s in obs_spaces.values()}) > 1:
        missing.append(("pad_observations", "observation", obs_spaces))
    if len({str(s) for s in act_spaces.values()}) > 1:
        missing.append(("pad_actions", "action", act_spaces))
    if not missing:
        return None
    what = " and ".join(m[1] for m in missing)
    sets = "; ".join(f"set envs.{name}.{m[0]}: true" for m in missing)
    detail = "; ".join(f"{m[1]}s {_describe(m[2])}" for m in missing)
    return ConfigError(
        f"a shared policy needs one {what} space for all agents of {name!r}, but they differ "
        f"({detail}); {sets} (and keep agent_indication scalar or onehot so the shared "
        f"policy can tell the agents apart)",
        key=f"envs.{name}.{missing[0][0]}",
    )
