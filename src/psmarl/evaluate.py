"""N-play evaluation of a policy: batched inference, several worker processes, recorded seeds.

The same evaluator serves trained checkpoints (deterministic actions) and the random
baseline (uniform random actions). Play ``i`` resets its environment with seed
``base_seed + i``; the seed is written next to its return in ``episodes.csv``.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from psmarl import results
from psmarl.errors import InputError


# ---------------------------------------------------------------- statistics
def summarize(returns: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean, sample std and a Student-t confidence interval of the mean."""
    from scipy import stats

    x = np.asarray(returns, dtype=float)
    n = int(x.size)
    if n == 0:
        raise ValueError("no episodes to summarize")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    if n > 1 and std > 0:
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))
    else:
        half = 0.0
    return {
        "episodes": n,
        "mean": mean,
        "std": std,
        "ci95_low": mean - half,
        "ci95_high": mean + half,
        "min": float(x.min()),
        "max": float(x.max()),
    }


# ---------------------------------------------------------------- policies
# Forward passes get at least this many rows. With fewer, torch's CPU matmul takes another
# kernel path whose float rounding differs (measured with MKL: rows of batches of 1-3 differ
# in the last bits from the same rows in any batch of 4 or more, while batches of 4+ agree
# row for row, whatever the other rows). Padding makes a play's actions independent of
# which other plays share its batch, hence of the worker split and of the play schedule;
# `tests/test_train.py::test_shared_training_then_deterministic_evaluation` checks it on a
# trained multiwalker checkpoint.
MIN_BATCH = 8


def pad_rows(x: np.ndarray, rows: int = MIN_BATCH) -> np.ndarray:
    """``x`` with zero rows appended up to ``rows`` (first axis); unchanged if long enough."""
    if x.shape[0] >= rows:
        return x
    return np.concatenate([x, np.zeros((rows - x.shape[0],) + x.shape[1:], dtype=x.dtype)])


class RandomPolicy:
    """Uniform random actions. Each play draws from a generator seeded with its own seed,
    so a play's actions do not depend on how plays are split over workers."""

    deterministic = False

    def __init__(self, env, seed: int):
        from psmarl.envs.wrappers import real_action_spaces

        self.spaces = {a: env.action_space(a) for a in env.possible_agents}
        # with pad_actions, draw from each agent's own space (uniform over its real actions,
        # not over the padded ones, several of which map to the same real action)
        self.real = real_action_spaces(env)
        self.rngs: dict[int, np.random.Generator] = {}

    def start_episode(self, slot: int, seed: int) -> None:
        self.rngs[slot] = np.random.default_rng([seed, 0x5EED])

    def module_of(self, agent: str) -> str:
        return agent

    def act(self, module_id: str, members: list[tuple[int, str]], obs: np.ndarray) -> list[Any]:
        from gymnasium.spaces import Box, Discrete

        out = []
        for slot, agent in members:
            sp, rng = self.real[agent], self.rngs[slot]
            if isinstance(sp, Discrete):
                out.append(int(sp.start + rng.integers(sp.n)))
            elif isinstance(sp, Box):
                a = rng.uniform(sp.low, sp.high).astype(sp.dtype)
                padded = self.spaces[agent]
                if padded.shape != sp.shape:  # zeros in the padded entries (discarded)
                    a = np.pad(a, [(0, p - s) for p, s in zip(padded.shape, sp.shape)])
                out.append(a.astype(padded.dtype))
            else:
                raise TypeError(f"random policy: unsupported action space {sp}")
        return out


class CheckpointPolicy:
    """Deterministic actions of the RLModules in an RLlib checkpoint, batched per module."""

    deterministic = True

    def __init__(self, env, checkpoint: str | os.PathLike):
        import torch
        from ray.rllib.core.rl_module.rl_module import RLModule

        torch.set_num_threads(1)
        ckpt = Path(checkpoint).resolve()
        meta = results.read_json(ckpt / results.RUN_META)
        self.mapping: dict[str, str] = meta["agent_to_module"]
        self.normalize_actions = bool(meta.get("normalize_actions", True))
        self.clip_actions = bool(meta.get("clip_actions", False))
        module_path = ckpt / "learner_group" / "learner" / "rl_module"
        if not module_path.exists():
            raise InputError(f"checkpoint {ckpt} has no RLModule at {module_path}")
        self.multi = RLModule.from_checkpoint(str(module_path))
        self.spaces = {a: env.action_space(a) for a in env.possible_agents}
        self._torch = torch

    def start_episode(self, slot: int, seed: int) -> None:
        pass

    def module_of(self, agent: str) -> str:
        return self.mapping[agent]

    def act(self, module_id: str, members: list[tuple[int, str]], obs: np.ndarray) -> list[Any]:
        from gymnasium.spaces import Box
        from ray.rllib.utils.spaces.space_utils import unsquash_action

        torch = self._torch
        module = self.multi[module_id]
        n = obs.shape[0]
        with torch.no_grad():
            out = module.forward_inference({"obs": torch.from_numpy(pad_rows(obs))})
            if "actions" in out:  # value-based and deterministic-actor modules act directly
                actions = out["actions"].cpu().numpy()[:n]
            else:  # stochastic policies: the deterministic version of their distribution
                dist_cls = module.get_inference_action_dist_cls()
                dist = dist_cls.from_logits(out["action_dist_inputs"][:n]).to_deterministic()
                actions = dist.sample().cpu().numpy()
        space = self.spaces[members[0][1]]
        if isinstance(space, Box):
            if self.normalize_actions:  # RLlib's own mapping, applied to the whole batch
                actions = unsquash_action(actions, space)
            elif self.clip_actions:
                actions = np.clip(actions, space.low, space.high)
            return [a.astype(space.dtype) for a in actions]
        return [int(a) for a in actions]


@dataclass(frozen=True)
class PolicySpec:
    kind: str  # "random" | "checkpoint" (RLlib) | "benchmarl" (MADDPG/QMIX, psmarl.marl)
    checkpoint: str | None = None

    def build(self, env, seed: int):
        if self.kind == "random":
            return RandomPolicy(env, seed)
        if self.kind == "checkpoint":
            return CheckpointPolicy(env, self.checkpoint)
        if self.kind == "benchmarl":
            from psmarl.marl.policy import BenchmarlPolicy

            return BenchmarlPolicy(env, self.checkpoint)
        raise ValueError(f"unknown policy kind {self.kind!r}")


def check_checkpoint(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"checkpoint path does not exist: {p}")
    if not (p / results.RUN_META).exists():
        raise InputError(
            f"{p} is not a psmarl checkpoint (missing {results.RUN_META}); "
            "pass the 'checkpoint' folder of a finished training run"
        )
    return p.resolve()


def checkpoint_kind(path: str | os.PathLike) -> str:
    """The policy kind of a psmarl checkpoint: "checkpoint" (RLlib) or "benchmarl"."""
    return results.read_json(Path(path) / results.RUN_META).get("policy_kind", "checkpoint")


# ---------------------------------------------------------------- the play loop
def _play(env_settings: Mapping[str, Any], policy_spec: PolicySpec,
          next_play: Callable[[], tuple[int, int] | None], n_envs: int, worker_seed: int,
          progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Play until ``next_play()`` returns None, with ``n_envs`` envs stepped in lockstep.

    ``next_play`` hands out (episode, seed) pairs; an env that finishes a play takes the next
    one at once, so the batch stays full until the plays run out.
    """
    from psmarl.envs import make_parallel_env

    envs = [make_parallel_env(env_settings) for _ in range(max(1, n_envs))]
    policy = policy_spec.build(envs[0], worker_seed)
    rows: list[dict[str, Any]] = []
    slots: list[dict[str, Any] | None] = [None] * len(envs)

    def start(i: int) -> None:
        play = next_play()
        if play is None:
            slots[i] = None
            return
        ep, seed = play
        obs, _ = envs[i].reset(seed=seed)
        policy.start_episode(i, seed)
        slots[i] = {"episode": ep, "seed": seed, "obs": obs, "ret": 0.0, "len": 0}

    for i in range(len(envs)):
        start(i)
    while any(s is not None for s in slots):
        # group live agents of all envs by module, one forward pass per module
        groups: dict[str, list[tuple[int, str]]] = {}
        for i, s in enumerate(slots):
            if s is None:
                continue
            for agent in envs[i].agents:
                groups.setdefault(policy.module_of(agent), []).append((i, agent))
        actions: list[dict[str, Any]] = [{} for _ in envs]
        for mid, members in groups.items():
            obs = np.stack([np.asarray(slots[i]["obs"][a], dtype=np.float32) for i, a in members])
            acts = policy.act(mid, members, obs)
            for (i, a), act in zip(members, acts):
                actions[i][a] = act
        for i, s in enumerate(slots):
            if s is None:
                continue
            obs, rew, _, _, _ = envs[i].step(actions[i])
            s["obs"] = obs
            s["ret"] += float(sum(rew.values()))
            s["len"] += 1
            if not envs[i].agents:
                rows.append({"episode": s["episode"], "seed": s["seed"],
                             "total_reward": s["ret"], "length": s["len"]})
                if progress is not None:
                    progress(1)
                start(i)
    for e in envs:
        e.close()
    return rows


class _SharedPlays:
    """Plays handed out across processes from one shared counter (no fixed split: a process
    that starts late or meets long plays simply takes fewer). ``claimed[w]`` marks the
    processes that took at least one play; ``done`` counts finished plays, for progress."""

    def __init__(self, ctx, episodes: int, processes: int):
        self.episodes = episodes
        self.next = ctx.Value("q", 0)
        self.done = ctx.Value("q", 0, lock=False)
        self.claimed = ctx.Array("b", processes, lock=False)

    def taker(self, w: int, base_seed: int) -> Callable[[], tuple[int, int] | None]:
        def take() -> tuple[int, int] | None:
            with self.next.get_lock():
                i = self.next.value
                if i >= self.episodes:
                    return None
                self.next.value = i + 1
                self.claimed[w] = 1
            return i, base_seed + i
        return take

    def finished(self, k: int) -> int:
        with self.next.get_lock():
            self.done.value += k
            return self.done.value


_SHARED: _SharedPlays | None = None


def _init_worker(shared: _SharedPlays) -> None:
    global _SHARED
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _SHARED = shared


def _worker(args) -> list[dict[str, Any]]:
    env_settings, policy_spec, n_envs, base_seed, w = args
    assert _SHARED is not None
    return _play(env_settings, policy_spec, _SHARED.taker(w, base_seed), n_envs,
                 base_seed + 104729 * w, _SHARED.finished)


def evaluate(env_settings: Mapping[str, Any], policy_spec: PolicySpec, episodes: int,
             seed: int = 0, workers: int = 1, envs_per_worker: int = 8,
             log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Play ``episodes`` episodes; returns one row per episode, sorted by episode index.

    Play ``i`` always uses seed ``seed + i`` and its policy draws depend only on that seed,
    so the rows do not depend on ``workers`` or ``envs_per_worker``. With several workers
    this process plays too, from the first second, while ``workers - 1`` spawned processes
    start up (a few seconds of imports each) and join in; plays are handed out one at a time.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be positive, got {episodes}")
    if workers < 1 or envs_per_worker < 1:
        raise ValueError("workers and envs_per_worker must be positive")
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    workers = min(workers, episodes)
    n_envs = min(envs_per_worker, -(-episodes // workers))
    t0 = time.time()
    step = max(1, episodes // 10)
    logged = [0]

    def report(done: int) -> None:
        if done // step > logged[0] // step or done == episodes:
            logged[0] = done
            log(f"  {done}/{episodes} plays ({time.time() - t0:.1f}s)")

    if workers == 1:
        queue = iter([(i, seed + i) for i in range(episodes)])
        count = [0]

        def progress(k: int) -> None:
            count[0] += k
            report(count[0])

        rows = _play(env_settings, policy_spec, lambda: next(queue, None), n_envs, seed, progress)
    else:
        ctx = mp.get_context("spawn")
        shared = _SharedPlays(ctx, episodes, workers)
        pool = ctx.Pool(workers - 1, initializer=_init_worker, initargs=(shared,))
        try:
            pending = {w: pool.apply_async(_worker, ((dict(env_settings), policy_spec, n_envs,
                                                      seed, w),))
                       for w in range(1, workers)}
            rows = _play(env_settings, policy_spec, shared.taker(0, seed), n_envs, seed,
                         lambda k: report(shared.finished(k)))
            # every play is claimed now; wait only for the workers that took some (one still
            # importing would find none left)
            for w, res in pending.items():
                if shared.claimed[w]:
                    while not res.ready():
                        res.wait(2.0)
                        report(shared.done.value)
                    rows.extend(res.get())
        finally:
            pool.terminate()
            pool.join()
        report(episodes)
    df = pd.DataFrame(rows, columns=results.EPISODE_COLUMNS).sort_values("episode")
    if len(df) != episodes:
        raise RuntimeError(f"evaluation returned {len(df)} plays, expected {episodes}")
    return df.reset_index(drop=True)


def write_evaluation(df: pd.DataFrame, episodes_csv: str | os.PathLike,
                     summary_json: str | os.PathLike, extra: Mapping[str, Any]) -> dict:
    summary = summarize(df["total_reward"].to_numpy())
    summary.update({
        "mean_length": float(df["length"].mean()),
        "seeds": [int(df["seed"].min()), int(df["seed"].max())],
        **extra,
    })
    results.write_csv_atomic(episodes_csv, df)
    results.write_json_atomic(summary_json, summary)
    return summary
