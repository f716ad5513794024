"""N-play evaluation of a policy: batched inference, several worker processes, recorded seeds.

The same evaluator serves trained checkpoints (deterministic actions) and the random
baseline (uniform random actions). Play ``i`` resets its environment with seed
``base_seed + i``; the seed is written next to its return in ``episodes.csv``.
"""

from __future__ import annotations

import contextlib
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
from psmarl.errors import InputError, StageError
from psmarl.inference import pad_rows
from psmarl.run_loop import format_duration


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


class IdlePolicy:
    """Every agent idles at every step: the env's idle action on a discrete space
    (``EnvSpec.idle_action``: pursuit's "stay"), all zeros on a continuous one (no thrust
    on waterworld, no torque on multiwalker). What a trained policy must beat to show it
    does more than keep still: on multiwalker, idle walkers lose less than random ones."""

    deterministic = True

    def __init__(self, env, env_name: str):
        from gymnasium.spaces import Box, Discrete

        from psmarl.envs import get
        from psmarl.envs.wrappers import real_action_spaces

        idle = get(env_name).idle_action
        spaces = {a: env.action_space(a) for a in env.possible_agents}
        self.actions: dict[str, Any] = {}
        for agent, real in real_action_spaces(env).items():
            if isinstance(real, Box):  # zeros in the padded entries too (discarded)
                self.actions[agent] = np.zeros(spaces[agent].shape, dtype=spaces[agent].dtype)
            elif isinstance(real, Discrete):
                if idle is None or not 0 <= idle < real.n:
                    raise InputError(
                        f"idle baseline: env {env_name!r} names no idle action for "
                        f"{agent}'s {real.n} discrete actions (EnvSpec.idle_action: {idle})"
                    )
                self.actions[agent] = int(real.start + idle)
            else:
                raise InputError(f"idle baseline: unsupported action space {real} of {agent}")

    def start_episode(self, slot: int, seed: int) -> None:
        pass

    def module_of(self, agent: str) -> str:
        return agent

    def act(self, module_id: str, members: list[tuple[int, str]], obs: np.ndarray) -> list[Any]:
        return [self.actions[agent] for _, agent in members]


class CheckpointPolicy:
    """Actions of the RLModules in an RLlib checkpoint, batched per module: deterministic
    (the mode of each policy's distribution), or with ``sample`` drawn from it as in
    training. Sampled draws come from a generator per play and agent, seeded with the
    play's seed, so a play's actions do not depend on how plays are batched or split over
    workers."""

    def __init__(self, env, checkpoint: str | os.PathLike, sample: bool = False):
        import torch
        from ray.rllib.core.rl_module.rl_module import RLModule

        torch.set_num_threads(1)
        ckpt = Path(checkpoint).resolve()
        meta = results.read_json(ckpt / results.RUN_META, results.RUN_META_KEYS)
        self.mapping: dict[str, str] = meta["agent_to_module"]
        self.normalize_actions = bool(meta.get("normalize_actions", True))
        self.clip_actions = bool(meta.get("clip_actions", False))
        module_path = ckpt / "learner_group" / "learner" / "rl_module"
        if not module_path.exists():
            raise InputError(
                f"checkpoint {ckpt} has no RLModule at {module_path}; "
                + results.redo_hint(module_path)
            )
        try:
            with moved_module_names():
                self.multi = RLModule.from_checkpoint(str(module_path))
        except Exception as e:  # noqa: BLE001 - named below, as one line
            raise_damaged_checkpoint(module_path, e)
        missing = sorted(set(self.mapping.values()) - set(self.multi.keys()))
        if missing:
            raise results.damaged(
                module_path,
                f"has no module(s) {', '.join(missing)} of {results.RUN_META}'s agent_to_module",
            )
        self.spaces = {a: env.action_space(a) for a in env.possible_agents}
        self._torch = torch
        self.deterministic = not sample
        self.agent_index = {a: i for i, a in enumerate(env.possible_agents)}
        self.seeds: dict[int, int] = {}
        self.rngs: dict[tuple[int, str], np.random.Generator] = {}

    def start_episode(self, slot: int, seed: int) -> None:
        self.seeds[slot] = seed
        for key in [k for k in self.rngs if k[0] == slot]:
            del self.rngs[key]

    def _rng(self, slot: int, agent: str) -> np.random.Generator:
        key = (slot, agent)
        if key not in self.rngs:
            self.rngs[key] = np.random.default_rng(
                [self.seeds[slot], 0x5A3D, self.agent_index[agent]]
            )
        return self.rngs[key]

    def _sample(self, module_id: str, dist_cls, inputs: np.ndarray, members) -> np.ndarray:
        """One draw per row from the policy's distribution (RLlib's diagonal Gaussian or
        categorical), each with its play's and agent's generator."""
        from ray.rllib.models.torch.torch_distributions import (
            TorchCategorical,
            TorchDiagGaussian,
        )

        if issubclass(dist_cls, TorchDiagGaussian):
            d = inputs.shape[1] // 2
            mean, log_std = inputs[:, :d], inputs[:, d:]
            noise = np.stack([self._rng(slot, agent).standard_normal(d) for slot, agent in members])
            return mean + np.exp(log_std) * noise
        if issubclass(dist_cls, TorchCategorical):
            z = inputs - inputs.max(axis=1, keepdims=True)
            probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            return np.array(
                [
                    self._rng(slot, agent).choice(len(p), p=p)
                    for (slot, agent), p in zip(members, probs)
                ]
            )
        raise InputError(
            f"sampled actions: module {module_id}'s action distribution {dist_cls.__name__} "
            "is not one psmarl samples (a diagonal Gaussian or a categorical); evaluate it "
            "with deterministic actions"
        )

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
                if not self.deterministic:
                    raise InputError(
                        f"sampled actions: module {module_id} acts deterministically "
                        "(a value-based method or a deterministic actor); it has no action "
                        "distribution to sample from"
                    )
                actions = out["actions"].cpu().numpy()[:n]
            elif not self.deterministic:  # drawn from the distribution, as in training
                inputs = out["action_dist_inputs"][:n].cpu().numpy().astype(np.float64)
                dist_cls = module.get_inference_action_dist_cls()
                actions = self._sample(module_id, dist_cls, inputs, members)
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


#: psmarl modules renamed since checkpoints named them: RLlib pickles an RLModule's class by
#: its import path (class_and_ctor_args.pkl), so an older checkpoint names the old module
MOVED_MODULES = {
    # DDPG, TD3 and Ape-X DDPG's RLModule (2026-12-02, issue 17's names)
    "psmarl.methods.offpolicy": "psmarl.methods.ddpg_rllib",
}


@contextlib.contextmanager
def moved_module_names():
    """While loading a checkpoint, the old names of moved psmarl modules import the new
    ones (and only then: no old name is importable otherwise)."""
    import importlib

    added = []
    for old, new in MOVED_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)
            added.append(old)
    try:
        yield
    finally:
        for old in added:
            sys.modules.pop(old, None)


def raise_damaged_checkpoint(folder: Path, error: Exception):
    """A library failed to load a checkpoint ``folder``: raise one InputError that names the
    damaged file in it (:func:`psmarl.results.find_damaged_file`), or the folder."""
    bad = results.find_damaged_file(folder)
    if bad is not None:
        raise results.damaged(*bad) from None
    raise results.damaged(folder, f"does not load ({type(error).__name__}: {error})") from None


@dataclass(frozen=True)
class PolicySpec:
    # "random" | "idle" | "checkpoint" (RLlib) | "benchmarl" (MADDPG/QMIX,
    # psmarl.benchmarl_backend)
    kind: str
    checkpoint: str | None = None
    #: draw actions from the policy's distribution (as training does) instead of its mode
    sample_actions: bool = False

    def build(self, env, seed: int, env_name: str):
        """The policy for ``env`` (the catalogue's ``env_name``: the idle action is its)."""
        if self.kind == "random":
            return RandomPolicy(env, seed)
        if self.kind == "idle":
            return IdlePolicy(env, env_name)
        if self.kind == "checkpoint":
            return CheckpointPolicy(env, self.checkpoint, sample=self.sample_actions)
        if self.sample_actions:
            raise InputError(
                f"sampled actions: only RLlib checkpoints have them, not {self.kind} ones"
            )
        if self.kind == "benchmarl":
            from psmarl.benchmarl_backend.policy import BenchmarlPolicy

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
def _play(
    env_settings: Mapping[str, Any],
    policy_spec: PolicySpec,
    next_play: Callable[[], tuple[int, int] | None],
    n_envs: int,
    worker_seed: int,
    progress: Callable[[int], None] | None = None,
    tick: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Play until ``next_play()`` returns None, with ``n_envs`` envs stepped in lockstep.

    ``next_play`` hands out (episode, seed) pairs; an env that finishes a play takes the next
    one at once, so the batch stays full until the plays run out. ``tick`` is called once
    before the first play and once per lockstep (the watchdog's heartbeat).
    """
    from psmarl.envs import make_parallel_env

    envs = [make_parallel_env(env_settings) for _ in range(max(1, n_envs))]
    policy = policy_spec.build(envs[0], worker_seed, env_settings["name"])
    tick = tick or (lambda: None)
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

    tick()
    for i in range(len(envs)):
        start(i)
    while any(s is not None for s in slots):
        tick()
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
                rows.append(
                    {
                        "episode": s["episode"],
                        "seed": s["seed"],
                        "total_reward": s["ret"],
                        "length": s["len"],
                    }
                )
                if progress is not None:
                    progress(1)
                start(i)
    for e in envs:
        e.close()
    return rows


# ---------------------------------------------------------------- several processes
#: A worker that has taken a play and then reports no lockstep for this long fails the
#: evaluation (``psmarl evaluate --stall-seconds``). One lockstep is milliseconds to
#: seconds; the limit only has to be far above that on a loaded machine.
STALL_SECONDS = 300.0
#: Seconds a worker that has sent its plays gets to exit before it is killed.
EXIT_GRACE_SECONDS = 10.0


class _SharedPlays:
    """Plays handed out across processes from one shared counter (no fixed split: a process
    that starts late or meets long plays simply takes fewer). Per process ``w``:
    ``claimed[w]`` marks that it took at least one play, ``done[w]`` counts its finished
    plays, ``beat[w]`` is the ``time.monotonic()`` of its last lockstep. Each process writes
    only its own slots; only the play counter needs the lock, which is never waited on
    for longer than ``lock_seconds``."""

    def __init__(self, ctx, episodes: int, processes: int, lock_seconds: float):
        self.episodes = episodes
        self.lock_seconds = lock_seconds
        self.next = ctx.Value("q", 0)
        self.claimed = ctx.Array("b", processes, lock=False)
        self.done = ctx.Array("q", processes, lock=False)
        self.beat = ctx.Array("d", processes, lock=False)

    def taker(self, w: int, base_seed: int) -> Callable[[], tuple[int, int] | None]:
        def take() -> tuple[int, int] | None:
            lock = self.next.get_lock()
            if not lock.acquire(timeout=self.lock_seconds):
                raise StageError(
                    f"evaluation: the shared play counter stayed locked for "
                    f"{self.lock_seconds:.0f} s (a worker process stalled or died holding it)"
                )
            try:
                i = self.next.value
                if i >= self.episodes:
                    return None
                self.next.value = i + 1
                self.claimed[w] = 1
            finally:
                lock.release()
            return i, base_seed + i

        return take

    def finished(self, w: int, k: int) -> None:
        self.done[w] += k

    def total_done(self) -> int:
        return int(sum(self.done[:]))


def _worker_main(
    shared: _SharedPlays,
    conn,
    env_settings: Mapping[str, Any],
    policy_spec: PolicySpec,
    n_envs: int,
    base_seed: int,
    w: int,
    parent: int,
) -> None:
    """Entry point of worker process ``w``: play, then send ("rows", rows) or
    ("error", exception) through ``conn``. Exits as soon as its parent is gone."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    def tick() -> None:
        shared.beat[w] = time.monotonic()
        if os.getppid() != parent:  # the evaluation was killed: stop playing
            os._exit(1)

    try:
        rows = _play(
            env_settings,
            policy_spec,
            shared.taker(w, base_seed),
            n_envs,
            base_seed + 104729 * w,
            lambda k: shared.finished(w, k),
            tick,
        )
        message: tuple[str, Any] = ("rows", rows)
    except Exception as e:  # noqa: BLE001 - sent to the parent, which raises it
        message = ("error", e)
    try:
        conn.send(message)
    except Exception:  # noqa: BLE001 - an exception that does not pickle
        conn.send(("error", StageError(f"{type(message[1]).__name__}: {message[1]}")))
    conn.close()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"was killed by {name}"
    return f"exited with code {code}"


class _Workers:
    """``n - 1`` spawned worker processes (process 0 is the caller) and their watchdog.

    A worker that has taken a play must send its rows. :meth:`check` raises StageError when
    one died first (its plays would be lost), sent an error, or made no lockstep for
    ``stall_seconds``; a worker that dies before taking a play is only logged (the others
    play its share). Nothing here waits without a time limit."""

    def __init__(
        self,
        ctx,
        shared: _SharedPlays,
        n: int,
        args: tuple,
        stall_seconds: float,
        log: Callable[[str], None],
    ):
        self.shared, self.stall, self.log = shared, stall_seconds, log
        self.t0 = time.monotonic()
        self.procs: dict[int, Any] = {}
        self.conns: dict[int, Any] = {}
        self.rows: dict[int, list[dict[str, Any]]] = {}
        self.joined: set[int] = set()
        self.lost: set[int] = set()
        self.last_check = 0.0
        for w in range(1, n):
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=_worker_main,
                name=f"psmarl-eval-{w}",
                daemon=True,
                args=(shared, send, *args, w, os.getpid()),
            )
            p.start()
            send.close()
            self.procs[w], self.conns[w] = p, recv

    def _receive(self, w: int) -> None:
        try:
            kind, payload = self.conns[w].recv()
        except (EOFError, OSError):
            kind, payload = "died", None
        if kind == "rows":
            self.rows[w] = payload
        elif kind == "error":
            raise payload if isinstance(payload, Exception) else StageError(str(payload))
        else:
            self._died(w)

    def _died(self, w: int) -> None:
        p = self.procs[w]
        p.join(timeout=1.0)
        what = f"evaluation worker {w} (pid {p.pid}) {_describe_exit(p.exitcode)}"
        if self.shared.claimed[w]:
            raise StageError(
                f"{what} before returning its plays; its plays are lost, so the "
                "evaluation fails (rerun it; see docs/reliability.md)"
            )
        if w not in self.lost:
            self.lost.add(w)
            self.log(f"  WARNING: {what} before taking a play; the other processes play its share")

    def check(self, every: float = 0.0) -> None:
        """Raise StageError if a worker failed (see the class); at most once per ``every`` s."""
        now = time.monotonic()
        if now - self.last_check < every:
            return
        self.last_check = now
        for w, p in self.procs.items():
            if w in self.rows or w in self.lost:
                continue
            if self.shared.claimed[w] and w not in self.joined:
                self.joined.add(w)
                self.log(
                    f"  worker {w} (pid {p.pid}) took its first play after {now - self.t0:.1f}s"
                )
            if self.conns[w].poll():
                self._receive(w)
            elif p.exitcode is not None:
                self._died(w)
            elif self.shared.claimed[w] and now - self.shared.beat[w] > self.stall:
                raise StageError(
                    f"evaluation worker {w} (pid {p.pid}) made no progress for "
                    f"{now - self.shared.beat[w]:.0f} s (limit {self.stall:.0f} s, "
                    "--stall-seconds): it stalled, so the evaluation fails (rerun it; see "
                    "docs/reliability.md)"
                )

    def collect(self, report: Callable[[], None]) -> list[dict[str, Any]]:
        """Rows of every worker that took plays (all plays are taken when this is called,
        so a worker still starting up would find none and is not waited for)."""
        while True:
            self.check()
            waiting = [w for w in self.procs if self.shared.claimed[w] and w not in self.rows]
            if not waiting:
                break
            self.conns[waiting[0]].poll(1.0)
            report()
        return [r for w in sorted(self.rows) for r in self.rows[w]]

    def stop(self) -> None:
        """End every worker: those that sent their rows get a moment to exit, the rest are
        killed (SIGKILL, which no handler can swallow)."""
        deadline = time.monotonic() + EXIT_GRACE_SECONDS
        for w, p in self.procs.items():
            if w in self.rows:
                p.join(timeout=max(0.0, deadline - time.monotonic()))
        for p in self.procs.values():
            if p.exitcode is None:
                p.kill()
        for w, p in self.procs.items():
            p.join(timeout=5.0)
            if p.exitcode is None:
                self.log(
                    f"  WARNING: evaluation worker {w} (pid {p.pid}) did not exit after "
                    "SIGKILL; left behind"
                )
            self.conns[w].close()


def evaluate(
    env_settings: Mapping[str, Any],
    policy_spec: PolicySpec,
    episodes: int,
    seed: int = 0,
    workers: int = 1,
    envs_per_worker: int = 8,
    log: Callable[[str], None] | None = None,
    stall_seconds: float = STALL_SECONDS,
) -> pd.DataFrame:
    """Play ``episodes`` episodes; returns one row per episode, sorted by episode index.

    Play ``i`` always uses seed ``seed + i`` and its policy draws depend only on that seed,
    so the rows do not depend on ``workers`` or ``envs_per_worker``. With several workers
    this process plays too, from the first second, while ``workers - 1`` spawned processes
    start up (a few seconds of imports each) and join in; plays are handed out one at a time.
    A worker that dies or makes no progress for ``stall_seconds`` after taking a play fails
    the evaluation with :class:`~psmarl.errors.StageError` (:class:`_Workers`).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be positive, got {episodes}")
    if workers < 1 or envs_per_worker < 1:
        raise ValueError("workers and envs_per_worker must be positive")
    if not stall_seconds > 0:
        raise ValueError(f"stall_seconds must be positive, got {stall_seconds}")
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    workers = min(workers, episodes)
    n_envs = min(envs_per_worker, -(-episodes // workers))
    t0 = time.time()
    step = max(1, episodes // 10)
    logged = [0]

    def report(done: int) -> None:
        if done // step > logged[0] // step or done == episodes:
            logged[0] = done
            elapsed = time.time() - t0
            eta = elapsed / done * (episodes - done) if done else float("nan")
            log(
                f"  {done}/{episodes} plays ({done / episodes:.0%}, {elapsed:.1f}s, "
                f"ETA {format_duration(eta)})"
            )

    if workers == 1:
        queue = iter([(i, seed + i) for i in range(episodes)])
        count = [0]

        def progress(k: int) -> None:
            count[0] += k
            report(count[0])

        rows = _play(env_settings, policy_spec, lambda: next(queue, None), n_envs, seed, progress)
    else:
        ctx = mp.get_context("spawn")
        shared = _SharedPlays(ctx, episodes, workers, lock_seconds=stall_seconds)
        pool = _Workers(
            ctx,
            shared,
            workers,
            (dict(env_settings), policy_spec, n_envs, seed),
            stall_seconds,
            log,
        )
        try:

            def progress(k: int) -> None:
                shared.finished(0, k)
                report(shared.total_done())

            rows = _play(
                env_settings,
                policy_spec,
                shared.taker(0, seed),
                n_envs,
                seed,
                progress,
                tick=lambda: pool.check(every=1.0),
            )
            rows += pool.collect(lambda: report(shared.total_done()))
        finally:
            pool.stop()
        report(episodes)
    df = pd.DataFrame(rows, columns=results.EPISODE_COLUMNS).sort_values("episode")
    if len(df) != episodes:
        raise StageError(f"evaluation returned {len(df)} plays, expected {episodes}")
    return df.reset_index(drop=True)


def write_evaluation(
    df: pd.DataFrame,
    episodes_csv: str | os.PathLike,
    summary_json: str | os.PathLike,
    extra: Mapping[str, Any],
) -> dict:
    summary = summarize(df["total_reward"].to_numpy())
    summary.update(
        {
            "mean_length": float(df["length"].mean()),
            "seeds": [int(df["seed"].min()), int(df["seed"].max())],
            **extra,
        }
    )
    results.write_csv_atomic(episodes_csv, df)
    results.write_json_atomic(summary_json, summary)
    return summary
