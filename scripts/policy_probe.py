#!/usr/bin/env python
"""What a Gaussian policy of an RLlib checkpoint does with its action noise.

Plays a few episodes of the checkpoint's own env (its run spec) with the policy's sampled
actions (clipped to the action bounds, as the env gets them), then reports, over every
visited state and per action dimension: the mean of the Gaussian's mean, the fraction of
states whose mean lies beyond the action bounds (where a larger standard deviation barely
changes the clipped action the env gets), the mean log standard deviation, and the policy
entropy (the PPO learner's logged ``entropy``). Used for the multiwalker reproduction's
entropy question (docs/reproduction/notes.md).

    .venv/bin/python scripts/policy_probe.py \\
        docs/reproduction/unfinished/runs/multiwalker/ppo/shared/seed0/checkpoint
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("checkpoint", help="a run's checkpoint folder (psmarl_run.json inside)")
    ap.add_argument("--episodes", type=int, default=4)
    ap.add_argument("--steps", type=int, default=300, help="at most this many steps per episode")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    import torch
    from ray.rllib.core.rl_module.rl_module import RLModule

    from psmarl import results
    from psmarl.envs import make_parallel_env

    torch.set_num_threads(1)
    ckpt = Path(a.checkpoint).resolve()  # RLlib reads a relative path as a URI
    meta = json.loads((ckpt / results.RUN_META).read_text())
    mapping = meta["agent_to_module"]
    multi = RLModule.from_checkpoint(str(ckpt / "learner_group" / "learner" / "rl_module"))
    env = make_parallel_env(meta["spec"]["env"])
    rng = np.random.default_rng(a.seed)
    seen: dict[str, list[np.ndarray]] = {}
    bounds = {mapping[ag]: env.action_space(ag) for ag in env.possible_agents}
    for ep in range(a.episodes):
        obs, _ = env.reset(seed=a.seed + ep)
        for _ in range(a.steps):
            if not env.agents:
                break
            actions = {}
            for agent in env.agents:
                o = np.asarray(obs[agent], dtype=np.float32)[None]
                with torch.no_grad():
                    logits = multi[mapping[agent]].forward_inference({"obs": torch.from_numpy(o)})
                logits = logits["action_dist_inputs"].numpy()[0]
                seen.setdefault(mapping[agent], []).append(logits)
                space = env.action_space(agent)
                d = space.shape[0]
                mu, log_std = logits[:d], logits[d:]
                sample = mu + np.exp(log_std) * rng.standard_normal(d)
                actions[agent] = np.clip(sample, space.low, space.high).astype(space.dtype)
            obs, *_ = env.step(actions)
    for module, rows in sorted(seen.items()):
        logits = np.stack(rows)
        d = logits.shape[1] // 2
        mu, log_std = logits[:, :d], logits[:, d:]
        low, high = bounds[module].low, bounds[module].high
        print(f"module {module}: {len(rows)} states")
        print(f"  mean of the Gaussian's mean, per dim:  {np.round(mu.mean(0), 2)}")
        beyond = ((mu < low) | (mu > high)).mean(0)
        print(f"  states with the mean beyond the bounds: {np.round(beyond, 2)}")
        print(f"  mean log std, per dim:                  {np.round(log_std.mean(0), 2)}")
        entropy = (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(1).mean()
        print(f"  policy entropy (mean over states):      {entropy:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
