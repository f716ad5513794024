"""psmarl's fast SISL environments: PettingZoo 1.25's games, step for step, faster.

One module per game, each with ``parallel_env(**kwargs)`` taking the keyword arguments
(and defaults) of PettingZoo's ``pursuit_v4``, ``waterworld_v4`` and ``multiwalker_v9``
and returning a PettingZoo ``ParallelEnv``. For the same arguments, seed and actions every
step returns what PettingZoo's ``parallel_env`` returns: the same observations (bitwise),
rewards, terminations, truncations, live agents and episode ends, from the same
random-number stream (``tests/test_fast_sisl.py``).

- ``pursuit``: psmarl's own numpy implementation of the grid game (PettingZoo's spends
  its time in per-element Python: one ``np.clip`` per coordinate, reward lists rebuilt
  at every agent's turn, captures checked evader by pursuer).
- ``waterworld``, ``multiwalker``: the physics (pymunk, Box2D) and the per-agent action
  code stay PettingZoo's own objects; psmarl steps every agent and the physics once per
  parallel step, without the AEC cycle (an observation and a reward dict per agent turn),
  and computes waterworld's sensor readings for all pursuers at once.

Arguments a fast env cannot reproduce (a custom evader controller, rendering) are
rejected with an error that names them, never run with other dynamics: use
``backend: pettingzoo`` for those (``docs/environments.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

GAMES = ("pursuit", "waterworld", "multiwalker")


class UnsupportedArgument(ValueError):
    """A keyword argument (value) that PettingZoo accepts but the fast env cannot reproduce."""

    def __init__(self, game: str, problems: Mapping[str, str]):
        self.game = game
        self.problems = dict(problems)
        detail = "; ".join(f"{k}: {why}" for k, why in sorted(self.problems.items()))
        super().__init__(
            f"psmarl's fast {game} does not support {', '.join(sorted(problems))} "
            f"({detail}); use the pettingzoo backend for it"
        )


def settle_kwargs(
    game: str,
    kwargs: Mapping[str, Any],
    defaults: Mapping[str, Any],
    unsupported: Callable[[Mapping[str, Any]], dict[str, str]],
) -> dict[str, Any]:
    """The game's defaults updated with ``kwargs``; unknown names raise TypeError (as
    PettingZoo's constructors do), values the fast env cannot run raise
    UnsupportedArgument naming them."""
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise TypeError(
            f"{game}: unexpected keyword argument(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(sorted(defaults))}"
        )
    merged = {**defaults, **kwargs}
    problems = unsupported(merged)
    if problems:
        raise UnsupportedArgument(game, problems)
    return merged


def box_action(space, action):
    """What PettingZoo's ``ClipOutOfBoundsWrapper`` passes on for a Box action: the action
    itself when the space contains it, else (after its NaN and shape checks) the action
    clipped to the bounds, with its warning."""
    if isinstance(action, np.ndarray):
        inside = bool(
            np.can_cast(action.dtype, space.dtype)
            and action.shape == space.shape
            and np.all(action >= space.low)
            and np.all(action <= space.high)
        )
    else:
        inside = space.contains(action)
    if inside:
        return action
    from pettingzoo.utils.env_logger import EnvLogger

    if action is None or np.isnan(action).any():
        EnvLogger.error_nan_action()
    assert space.shape == action.shape, (
        f"action should have shape {space.shape}, has shape {action.shape}"
    )
    EnvLogger.warn_action_out_of_bound(
        action=action, action_space=space, backup_policy="clipping to space"
    )
    return np.clip(action, space.low, space.high)


class GameEnv:
    """What the fast waterworld and multiwalker share: a parallel env around one of
    PettingZoo's game objects (``self.env``, whose attributes are the game's state), with
    its spaces, seeding and reset. Mixed into a PettingZoo ``ParallelEnv`` subclass."""

    render_mode = None

    def _set_game(self, game, agent_prefix: str, count: int) -> None:
        self.env = game
        self.possible_agents = [f"{agent_prefix}_{r}" for r in range(count)]
        self.agents: list[str] = []
        self.observation_spaces = dict(zip(self.possible_agents, game.observation_space))
        self.action_spaces = dict(zip(self.possible_agents, game.action_space))
        self._infos = {a: {} for a in self.possible_agents}

    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    @property
    def np_random(self):
        return self.env.np_random

    def reset(self, seed: int | None = None, options: dict | None = None):
        """The game's reset, reseeded as PettingZoo's raw envs reseed it."""
        if seed is not None:
            self.env._seed(seed=seed)
        self.env.reset()
        self.agents = self.possible_agents[:]
        self._infos = {a: {} for a in self.agents}
        obs = {a: self.env.observe(i) for i, a in enumerate(self.agents)}
        return obs, dict(self._infos)

    def render(self):
        return self.env.render()

    def close(self):
        self.env.close()


def module(game: str):
    """The fast module of ``game`` (``psmarl.envs.fast_sisl.<game>``)."""
    import importlib

    if game not in GAMES:
        raise KeyError(f"no fast implementation of {game!r}; fast games: {', '.join(GAMES)}")
    return importlib.import_module(f"{__name__}.{game}")
