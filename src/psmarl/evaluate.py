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
        with torch.no_grad():
            out = module.forward_inference({"obs": torch.from_numpy(obs)})
            if "actions" in out:  # value-based and deterministic-actor modules act directly
                actions = out["actions"].cpu().numpy()
            else:  # stochastic policies: the deterministic version of their distribution
                dist_cls = module.get_inference_action_dist_cls()
                dist = dist_cls.from_logits(out["action_dist_inputs"]).to_deterministic()
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
          plays: Sequence[tuple[int, int]], n_envs: int, worker_seed: int,
          progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Run the given (episode, seed) plays with ``n_envs`` envs stepped in lockstep."""
    from psmarl.envs import make_parallel_env

    n_envs = max(1, min(n_envs, len(plays)))
    envs = [make_parallel_env(env_settings) for _ in range(n_envs)]
    policy = policy_spec.build(envs[0], worker_seed)
    queue = list(plays)
    rows: list[dict[str, Any]] = []
    slots: list[dict[str, Any] | None] = [None] * n_envs

    def start(i: int) -> None:
        if not queue:
            slots[i] = None
            return
        ep, seed = queue.pop(0)
        obs, _ = envs[i].reset(seed=seed)
        policy.start_episode(i, seed)
        slots[i] = {"episode": ep, "seed": seed, "obs": obs, "ret": 0.0, "len": 0}

    for i in range(n_envs):
        start(i)
    while any(s is not None for s in slots):
        # group live agents of all envs by module, one forward pass per module
        groups: dict[str, list[tuple[int, str]]] = {}
        for i, s in enumerate(slots):
            if s is None:
                continue
            for agent in envs[i].agents:
                groups.setdefault(policy.module_of(agent), []).append((i, agent))
        actions: list[dict[str, Any]] = [dict() for _ in range(n_envs)]
        for mid, members in groups.items():
            obs = np.stack([np.asarray(slots[i]["obs"][a], dtype=np.float32) for i, a in members])
            acts = policy.act(mid, members, obs)
            for (i, a), act in zip(members, acts):
                actions[i][a] = act
        for i, s in enumerate(slots):
            if s is None:
                continue
            obs, rew, term, trunc, _ = envs[i].step(actions[i])
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


def _worker(args) -> list[dict[str, Any]]:
    env_settings, policy_spec, plays, n_envs, worker_seed = args
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return _play(env_settings, policy_spec, plays, n_envs, worker_seed)


def evaluate(env_settings: Mapping[str, Any], policy_spec: PolicySpec, episodes: int,
             seed: int = 0, workers: int = 1, envs_per_worker: int = 8,
             log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Play ``episodes`` episodes; returns one row per episode, sorted by episode index."""
    if episodes < 1:
        raise ValueError(f"episodes must be positive, got {episodes}")
    if workers < 1 or envs_per_worker < 1:
        raise ValueError("workers and envs_per_worker must be positive")
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    plays = [(i, seed + i) for i in range(episodes)]
    workers = min(workers, episodes)
    chunks = [plays[w::workers] for w in range(workers)]
    t0 = time.time()
    if workers == 1:
        done = [0]
        step = max(1, episodes // 10)

        def progress(k: int) -> None:
            done[0] += k
            if done[0] % step == 0 or done[0] == episodes:
                log(f"  {done[0]}/{episodes} plays ({time.time() - t0:.1f}s)")

        rows = _play(env_settings, policy_spec, plays, envs_per_worker, seed, progress)
    else:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers) as pool:
            rows = []
            args = [(dict(env_settings), policy_spec, c, envs_per_worker, seed + 104729 * w)
                    for w, c in enumerate(chunks)]
            for part in pool.imap_unordered(_worker, args):
                rows.extend(part)
                log(f"  {len(rows)}/{episodes} plays ({time.time() - t0:.1f}s)")
    df = pd.DataFrame(rows, columns=results.EPISODE_COLUMNS).sort_values("episode")
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
