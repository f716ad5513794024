"""Helpers of the reliability suite: a subprocess whose stderr is read line by line while it
runs, process-tree and socket listings, a tiny RLlib checkpoint built without training."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil


class Watched:
    """``subprocess.Popen`` with stderr collected by a thread; :meth:`wait_for` a line."""

    def __init__(self, cmd: list[str], **kw):
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            **kw,
        )
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            self._q.put(line)
        self._q.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match | None:
        """The first match of ``pattern`` in a new line, or None at EOF or timeout."""
        rx = re.compile(pattern)
        for line in self.lines:
            if m := rx.search(line):
                return m
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            if m := rx.search(line):
                return m
        return None

    def finish(self, timeout: float) -> int | None:
        """Exit code, or None if it did not exit within ``timeout`` (then it is killed)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(self.proc.pid)
            self.proc.wait(timeout=30)
            return None
        finally:
            self._t.join(timeout=5)

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)


def tree(pid: int) -> list[psutil.Process]:
    """``pid`` and its descendants that are alive."""
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, its process group and every descendant (processes this test started)."""
    procs = tree(pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def alive(pids) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def random_spec(
    env: str = "pursuit", max_cycles: int = 20, episodes: int = 4, envs_per_worker: int = 2
) -> dict:
    from psmarl import envs

    return {
        "env": envs.resolve(env, "paper", {"max_cycles": max_cycles}),
        "episodes": episodes,
        "seed": 0,
        "envs_per_worker": envs_per_worker,
    }


def build_checkpoint(
    target: Path, env_settings: dict, sharing: str = "shared", hidden: int = 8
) -> Path:
    """A psmarl checkpoint of untrained PPO modules for ``env_settings`` (seconds, no Ray):
    what ``psmarl evaluate`` reads, without a training run."""
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
        DefaultPPOTorchRLModule,
    )
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from psmarl import envs, results
    from psmarl.train import agent_to_module

    env = envs.make_parallel_env(env_settings)
    agents = list(env.possible_agents)
    mapping = agent_to_module(agents, sharing)
    first = {m: next(a for a in agents if mapping[a] == m) for m in set(mapping.values())}
    spec = MultiRLModuleSpec(
        rl_module_specs={
            m: RLModuleSpec(
                module_class=DefaultPPOTorchRLModule,
                observation_space=env.observation_space(a),
                action_space=env.action_space(a),
                model_config={"fcnet_hiddens": [hidden]},
            )
            for m, a in first.items()
        }
    )
    env.close()
    target = Path(target)
    spec.build().save_to_path(str((target / "learner_group" / "learner" / "rl_module").resolve()))
    results.write_json_atomic(target / results.RUN_META, {"agent_to_module": mapping})
    return target


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True)
