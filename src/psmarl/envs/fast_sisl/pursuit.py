"""Fast pursuit: PettingZoo 1.25's ``pursuit_v4.parallel_env``, vectorised with numpy.

The game (PettingZoo's ``sisl/pursuit``): pursuers and evaders on an ``x_size`` x
``y_size`` grid with a rectangular building in the middle; each parallel step moves every
pursuer (actions left, right, up, down, stay on x/y), pays tag rewards, removes caught
evaders, pays the catch reward, then moves every remaining evader at random.

PettingZoo runs this as an AEC game converted to a parallel one, so a parallel step is
``n_pursuers`` agent turns. What a turn-by-turn run yields, and how this module gets the
same numbers without the turns:

- **Rewards.** After pursuer ``s``'s turn every pursuer ``k`` is paid ``tag_reward`` x the
  number of evaders on its 4 neighbour cells (clipped to the grid, so at a border its own
  cell counts again), divided by ``n_pursuers``, computed from the positions at that
  moment (pursuers ``0..s`` moved, the others not yet) and mixed with the mean over
  pursuers by ``shared_reward``. The parallel reward is the sum of these ``n_pursuers``
  turn rewards. Here: the tag counts at the old and the new positions give every turn's
  vector at once (row ``s`` takes the new count for ``k <= s``), and the rows are summed
  in turn order, in the same float operations (bitwise equal sums).
- **Captures** (last turn, before the evaders move). ``surround=True``: an evader is caught
  when pursuers occupy as many of its 4 neighbours as the cell needs (4, minus one per
  grid border it lies on, minus neighbours inside the building; PettingZoo's rule skips
  the building check for neighbours in row or column 0, and so does this table); every
  pursuer on a neighbour of a caught evader gets ``catch_reward``. ``surround=False``: at
  least ``n_catch`` pursuers on the evader's cell. ``n_catch`` is unused with
  ``surround=True``, as in PettingZoo.
- **Evaders** draw one ``integers(5)`` each from the env's generator, in evader order,
  after captures (one vector draw: the same stream); ``freeze_evaders`` keeps them still.
- **Observations**: agent ``k`` sees a ``obs_range`` x ``obs_range`` window around itself
  in PettingZoo's layout ``[y, x, channel]`` (channels: wall (1 outside the grid and on
  the building), pursuer count, evader count); for an even ``obs_range`` PettingZoo fills
  only the first ``obs_range - 1`` rows and columns, so does this module. All windows come
  from one padded copy of the grid in one indexing operation.
- **Episode end**: all evaders caught (terminated) or ``max_cycles`` steps (truncated;
  terminations stay False then).

Resets draw the same numbers in the same order as PettingZoo's: two ``uniform`` for the
spawn window, then rejection-sampled positions (pursuers, then evaders; no two of a kind
on the same or adjacent cells).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from psmarl.envs.fast_sisl import settle_kwargs

#: pursuit_v4's keyword arguments and defaults (PettingZoo 1.25 ``Pursuit.__init__``)
DEFAULTS: dict[str, Any] = dict(
    x_size=16,
    y_size=16,
    max_cycles=500,
    shared_reward=True,
    n_evaders=30,
    n_pursuers=8,
    obs_range=7,
    n_catch=2,
    freeze_evaders=False,
    evader_controller=None,
    pursuer_controller=None,
    tag_reward=0.01,
    catch_reward=5.0,
    urgency_reward=-0.1,
    surround=True,
    render_mode=None,
    constraint_window=1.0,
)

# action -> (dx, dy): left, right, up, down, stay (PettingZoo's DiscreteAgent)
MOTION = np.array([[-1, 0], [1, 0], [0, 1], [0, -1], [0, 0]], dtype=np.int64)
N_ACTIONS = 5
# the 4 neighbours of a cell, in PettingZoo's order (its surround_mask)
NEIGHBOURS = np.array([[-1, 0], [1, 0], [0, 1], [0, -1]], dtype=np.int64)


def unsupported(kw: Mapping[str, Any]) -> dict[str, str]:
    """Arguments (values) this implementation cannot reproduce: {name: why}."""
    out = {}
    if kw.get("evader_controller") is not None:
        out["evader_controller"] = (
            "a custom evader policy (only the built-in random "
            "moves and freeze_evaders are implemented)"
        )
    if kw.get("render_mode") is not None:
        out["render_mode"] = "no rendering"
    for key in ("x_size", "y_size", "n_pursuers", "n_evaders", "obs_range", "max_cycles"):
        v = kw.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            out[key] = (
                f"must be a positive integer, got {v!r} (PettingZoo fails or loops on other values)"
            )
    cw = kw.get("constraint_window")
    if not isinstance(cw, (int, float)) or not 0.0 < cw <= 1.0:
        out["constraint_window"] = f"must lie in (0, 1], got {cw!r}"
    return out


def parallel_env(**kwargs) -> ParallelEnv:
    """psmarl's fast ``pursuit_v4.parallel_env`` (same arguments, same steps)."""
    return FastPursuit(**kwargs)


def rectangle_building(x_size: int, y_size: int) -> np.ndarray:
    """True on the cells of pursuit's building: x/x_size in (0.3, 0.7) and y/y_size in
    (0.2, 0.8), open intervals, as PettingZoo's ``rectangle_map`` computes them."""
    fx = np.arange(x_size, dtype=np.float64) / x_size
    fy = np.arange(y_size, dtype=np.float64) / y_size
    in_x = (fx > 0.3) & (fx < 1.0 - 0.3)
    in_y = (fy > 0.2) & (fy < 1.0 - 0.2)
    return in_x[:, None] & in_y[None, :]


def cells_to_surround(building: np.ndarray) -> np.ndarray:
    """Per cell, how many occupied neighbours catch an evader there (PettingZoo's
    ``need_to_surround``: 4, minus 1 on an x border, minus 1 on a y border, minus each
    building neighbour whose coordinates are both > 0 and inside the grid)."""
    xs, ys = building.shape
    x = np.arange(xs)[:, None]
    y = np.arange(ys)[None, :]
    need = np.full((xs, ys), 4, dtype=np.int64)
    need -= ((x == 0) | (x == xs - 1)).astype(np.int64)
    need -= ((y == 0) | (y == ys - 1)).astype(np.int64)
    for dx, dy in NEIGHBOURS:
        xn, yn = x + dx, y + dy
        checked = (xn > 0) & (xn < xs) & (yn > 0) & (yn < ys)
        hit = np.zeros((xs, ys), dtype=bool)
        xi = np.clip(np.broadcast_to(xn, (xs, ys)), 0, xs - 1)
        yi = np.clip(np.broadcast_to(yn, (xs, ys)), 0, ys - 1)
        hit[checked] = building[xi[checked], yi[checked]]
        need -= hit.astype(np.int64)
    return need


class FastPursuit(ParallelEnv):
    """Positions are flat cell indices ``x * y_size + y``; every rule that depends only on
    a cell (where a move leads, the neighbours a tag or a capture looks at, the view
    window) is a table over cells, built once."""

    metadata = {
        "render_modes": [],
        "name": "pursuit_v4",
        "is_parallelizable": True,
        "render_fps": 5,
        "psmarl_backend": "fast",
    }

    def __init__(self, **kwargs):
        kw = settle_kwargs("pursuit", kwargs, DEFAULTS, unsupported)
        self.kwargs = kw
        self.x_size, self.y_size = int(kw["x_size"]), int(kw["y_size"])
        self.max_cycles = kw["max_cycles"]
        self.n_pursuers, self.n_evaders = int(kw["n_pursuers"]), int(kw["n_evaders"])
        self.obs_range = int(kw["obs_range"])
        self.n_catch = kw["n_catch"]
        self.freeze_evaders = bool(kw["freeze_evaders"])
        self.tag_reward = kw["tag_reward"]
        self.catch_reward = kw["catch_reward"]
        self.urgency_reward = kw["urgency_reward"]
        self.surround = kw["surround"]
        self.constraint_window = kw["constraint_window"]
        self.local_ratio = 1.0 - float(kw["shared_reward"])
        self.render_mode = None
        self.building = rectangle_building(self.x_size, self.y_size)
        self._tables()

        n = self.n_pursuers
        self.possible_agents = [f"pursuer_{i}" for i in range(n)]
        self.agents: list[str] = []
        obs_space = spaces.Box(
            low=0,
            high=max(self.n_pursuers, self.n_evaders),
            shape=(self.obs_range, self.obs_range, 3),
            dtype=np.float32,
        )
        act_space = spaces.Discrete(N_ACTIONS)
        # one space object for all agents, as PettingZoo's pursuit has
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: act_space for a in self.possible_agents}
        self.np_random, _ = seeding.np_random(None)
        self.frames = 0
        self._infos = {a: {} for a in self.possible_agents}

    def _tables(self):
        xs, ys, n = self.x_size, self.y_size, self.n_pursuers
        cells = xs * ys
        self.n_cells = cells
        x = np.repeat(np.arange(xs), ys)  # cell -> x
        y = np.tile(np.arange(ys), xs)  # cell -> y
        self.cell_x, self.cell_y = x, y
        self.building_cell = self.building.ravel()

        # where each action leads: off the grid or into the building stays
        tx = x[:, None] + MOTION[None, :, 0]
        ty = y[:, None] + MOTION[None, :, 1]
        inside = (tx >= 0) & (tx < xs) & (ty >= 0) & (ty < ys)
        target = np.where(inside, tx * ys + ty, 0)
        ok = inside & ~self.building_cell[target]
        self.next_cell = np.where(ok, target, np.arange(cells)[:, None])

        # tag rewards look at the 4 neighbours clipped to the grid (own cell at a border)
        nx = np.clip(x[:, None] + NEIGHBOURS[None, :, 0], 0, xs - 1)
        ny = np.clip(y[:, None] + NEIGHBOURS[None, :, 1], 0, ys - 1)
        self.tag_cells = nx * ys + ny

        # captures look at the 4 neighbours themselves; off the grid -> cell `cells`
        nx = x[:, None] + NEIGHBOURS[None, :, 0]
        ny = y[:, None] + NEIGHBOURS[None, :, 1]
        on = (nx >= 0) & (nx < xs) & (ny >= 0) & (ny < ys)
        self.neighbour_cells = np.where(on, nx * ys + ny, cells)
        self.need = cells_to_surround(self.building).ravel()

        # the view: a padded [y, x, channel] grid, and each cell's window into it
        off = (self.obs_range - 1) // 2
        self.offset = off
        self.window = w = 2 * off + 1  # PettingZoo fills this many rows/columns of the view
        gy, gx = ys + 2 * off, xs + 2 * off
        self.grid = np.zeros((gy, gx, 3), dtype=np.float32)
        self.grid[:, :, 0] = 1.0
        self.grid[off : off + ys, off : off + xs, 0] = self.building.T.astype(np.float32)
        self._inner = (slice(off, off + ys), slice(off, off + xs))
        span = np.arange(w)
        rows = y[:, None, None] + span[None, :, None]  # window row yo -> grid row y + yo
        cols = x[:, None, None] + span[None, None, :]
        self.view_cells = (rows * gx + cols).reshape(cells, w * w)

        # row s of a turn-reward matrix takes pursuer k's new tag count for k <= s
        self._moved_by_turn = np.tri(n, n, dtype=bool)

    # ------------------------------------------------------------------ API
    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.np_random, _ = seeding.np_random(seed)
        rng = self.np_random
        cw = self.constraint_window
        x0 = rng.uniform(0.0, 1.0 - cw)
        y0 = rng.uniform(0.0, 1.0 - cw)
        xlim = (int(self.x_size * x0), int(self.x_size * (x0 + cw)))
        ylim = (int(self.y_size * y0), int(self.y_size * (y0 + cw)))
        self.pursuers = self._spawn(self.n_pursuers, xlim, ylim)
        self.evaders = self._spawn(self.n_evaders, xlim, ylim)
        self.alive = np.ones(self.n_evaders, dtype=bool)
        self.frames = 0
        self.agents = self.possible_agents[:]
        self.pursuer_count = np.bincount(self.pursuers, minlength=self.n_cells)
        self.evader_count = np.bincount(self.evaders, minlength=self.n_cells)
        obs = self._observe()
        self._infos = {a: {} for a in self.agents}
        return dict(zip(self.agents, obs)), dict(self._infos)

    def step(self, actions: Mapping[str, Any]):
        if not self.agents:
            return {}, {}, {}, {}, {}
        n = self.n_pursuers
        old = self.pursuers
        new = self.next_cell[old, self._actions(actions)]

        # every agent turn's reward vector (row s: after pursuer s moved), then the sum
        tags = self.evader_count[self.tag_cells[np.concatenate([old, new])]].sum(axis=1)
        counts = np.where(self._moved_by_turn, tags[None, n:], tags[None, :n])
        turn = (self.tag_reward * counts) / n

        self.pursuers = new
        self.pursuer_count = np.bincount(new, minlength=self.n_cells)
        caught_by = self._capture()
        self._move_evaders()
        self.frames += 1
        self.evader_count = np.bincount(self.evaders[self.alive], minlength=self.n_cells)

        last = turn[n - 1] + self.catch_reward * caught_by
        last += self.urgency_reward
        turn[n - 1] = last
        mixed = self.local_ratio * turn + (1 - self.local_ratio) * turn.mean(axis=1)[:, None]
        total = np.zeros(n)
        for row in mixed:  # turn order, as the AEC-to-parallel conversion adds them
            total += row

        agents = self.agents
        obs = self._observe()
        truncated = self.frames >= self.max_cycles
        terminated = (not truncated) and not self.alive.any()
        observations = dict(zip(agents, obs))
        rewards = dict(zip(agents, total))
        terminations = dict.fromkeys(agents, terminated)
        truncations = dict.fromkeys(agents, truncated)
        infos = dict(self._infos)
        if terminated or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self):
        gymnasium.logger.warn("You are calling render method without specifying any render mode.")

    def close(self):
        pass

    # ------------------------------------------------------------------ the game
    def _spawn(self, count: int, xlim, ylim) -> np.ndarray:
        """``count`` cells drawn as PettingZoo draws them: x then y per try, a try
        rejected on the building or on/next to an earlier agent of this kind."""
        rng = self.np_random
        taken = np.zeros((self.x_size + 2, self.y_size + 2), dtype=bool)  # 1-cell margin
        out = np.zeros(count, dtype=np.int64)
        for i in range(count):
            while True:
                x = rng.integers(xlim[0], xlim[1])
                y = rng.integers(ylim[0], ylim[1])
                if not self.building[x, y] and not taken[x + 1, y + 1]:
                    break
            taken[x + 1, y + 1] = True
            taken[x + 2, y + 1] = taken[x, y + 1] = True
            taken[x + 1, y + 2] = taken[x + 1, y] = True
            out[i] = x * self.y_size + y
        return out

    def _actions(self, actions: Mapping[str, Any]) -> np.ndarray:
        values = [actions[a] for a in self.agents]
        arr = np.asarray(values)
        if (
            arr.shape == (len(values),)
            and arr.dtype.kind in "iu"
            and arr.min() >= 0
            and arr.max() < N_ACTIONS
        ):
            return arr
        out = np.empty(len(values), dtype=np.int64)
        for i, (agent, a) in enumerate(zip(self.agents, values)):
            if not self.action_spaces[agent].contains(a):
                raise ValueError(
                    f"pursuit: action {a!r} of {agent} is not in its action "
                    f"space {self.action_spaces[agent]}"
                )
            out[i] = int(a)
        return out

    def _capture(self) -> np.ndarray:
        """Remove caught evaders; True for each pursuer that took part in a capture."""
        idx = np.flatnonzero(self.alive)
        at = self.evaders[idx]
        if self.surround:
            occupied = np.zeros(self.n_cells + 1, dtype=bool)  # the last cell: off the grid
            occupied[:-1] = self.pursuer_count > 0
            around = self.neighbour_cells[at]
            caught = occupied[around].sum(axis=1) == self.need[at]
            marked = np.zeros(self.n_cells + 1, dtype=bool)
            marked[around[caught]] = True
        else:
            # PettingZoo compares its float32 count grid with n_catch
            caught = self.pursuer_count[at].astype(np.float32) >= self.n_catch
            marked = np.zeros(self.n_cells, dtype=bool)
            marked[at[caught]] = True
        self.alive[idx[caught]] = False
        return marked[self.pursuers]

    def _move_evaders(self):
        if self.freeze_evaders:
            return  # PettingZoo's frozen evaders always take "stay"
        idx = np.flatnonzero(self.alive)
        if idx.size:
            act = self.np_random.integers(N_ACTIONS, size=idx.size)
            self.evaders[idx] = self.next_cell[self.evaders[idx], act]

    def _observe(self) -> np.ndarray:
        """Every pursuer's view, shape (n_pursuers, obs_range, obs_range, 3)."""
        g = self.grid
        xs, ys = self.x_size, self.y_size
        g[self._inner + (1,)] = self.pursuer_count.reshape(xs, ys).T
        g[self._inner + (2,)] = self.evader_count.reshape(xs, ys).T
        w = self.window
        views = g.reshape(-1, 3)[self.view_cells[self.pursuers]].reshape(-1, w, w, 3)
        if w == self.obs_range:
            return views
        out = np.zeros((len(views), self.obs_range, self.obs_range, 3), dtype=np.float32)
        out[..., 0] = 1.0
        out[:, :w, :w] = views
        return out
