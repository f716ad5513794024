"""One PPO update of a kept multiwalker run, side by side: psmarl's learner (RLlib 2.60's
minibatch iterator and psmarl's loss) against the same update written out the way old
RLlib's multi-GPU optimizer did it (the paper's runs), on the same batch, weights and
optimizer state.

It answers one question of the reproduction (docs/reproduction/notes.md): psmarl's PPO
moves its policy about half as far per update as the paper's did (KL 0.0025 vs 0.0048) and
raises its action noise where the paper's lowered it. If the two procedures move the policy
equally far on the same data, the learner is not the cause.

The procedures, each from the same start (weights and Adam state restored), ``--repeats``
times with different shuffles:

- ``rllib``: ``Learner.update`` on the train batch psmarl's learner connector built (GAE,
  clipped rewards, value predictions), 10 epochs of minibatches of 500, reshuffled every
  epoch (RLlib 2's ``shuffle_batch_per_epoch``);
- ``old_fixed``: old RLlib's procedure, written here: the batch shuffled once, cut into
  len // 500 minibatches (the rest dropped), the same minibatches visited every epoch in a
  new order; the loss of old RLlib's ``ppo_tf_policy`` (clipped surrogate, KL penalty,
  value loss clipped to the sampling-time prediction, entropy bonus), written here from
  its formulas;
- ``old_reshuffled``: the same loss, the batch reshuffled into new minibatches every
  epoch;
- ``old_rllib_order``: the same loss, minibatches cut as RLlib 2.60's iterator cuts them:
  the first epoch in the batch's own order (the learner connector's: agent by agent,
  trajectory by trajectory, so each minibatch holds a few 100-step stretches), reshuffled
  only from the second epoch on (``MiniBatchCyclicIterator`` shuffles when it wraps);
- ``rllib_shuffled_first``: ``Learner.update`` on the same batch shuffled once before the
  update, as old RLlib's optimizer did (``shuffle_sequences``).

The differences between rows name the cause: ``rllib`` against ``old_rllib_order`` is the
loss, ``old_fixed`` / ``old_reshuffled`` / ``old_rllib_order`` the minibatch cutting.

Measured after each update, on the whole batch: KL(before || after), the change of the
mean entropy and of the mean log standard deviation.

    .venv/bin/python scripts/ppo_one_update.py \\
        docs/reproduction/runs/multiwalker/ppo/shared/seed0/checkpoint --repeats 5
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from psmarl import results

PROCEDURES = ("rllib", "old_fixed", "old_reshuffled", "old_rllib_order", "rllib_shuffled_first")


def build(checkpoint: Path, envs: int):
    """The run's RLlib algorithm, restored from ``checkpoint``, sampling in-process."""
    from psmarl.train import build_algorithm_config

    meta = results.read_json(checkpoint / results.RUN_META)
    spec = copy.deepcopy(meta["spec"])
    spec["runtime"] = {"num_cpus": 1, "num_env_runners": 0, "num_envs_per_env_runner": envs}
    config, _ = build_algorithm_config(spec, 1)
    algo = config.build_algo()
    algo.restore_from_path(str(checkpoint.resolve()))
    return algo, spec


def old_rllib_loss(module, mb, kl_coeff: float, c: dict) -> torch.Tensor:
    """Old RLlib's PPO loss (ppo_tf_policy.PPOLoss, 0.8) on minibatch ``mb``."""
    from ray.rllib.core.columns import Columns
    from ray.rllib.evaluation.postprocessing import Postprocessing

    out = module.forward_train(mb)
    mean, log_std = out[Columns.ACTION_DIST_INPUTS].chunk(2, dim=-1)
    curr = torch.distributions.Normal(mean, log_std.exp())
    pmean, plog_std = mb[Columns.ACTION_DIST_INPUTS].chunk(2, dim=-1)
    prev = torch.distributions.Normal(pmean, plog_std.exp())
    logp = curr.log_prob(mb[Columns.ACTIONS]).sum(-1)
    ratio = torch.exp(logp - mb[Columns.ACTION_LOGP])
    adv = mb[Postprocessing.ADVANTAGES]
    surrogate = torch.min(adv * ratio, adv * ratio.clamp(1 - c["clip_param"], 1 + c["clip_param"]))
    kl = torch.distributions.kl_divergence(prev, curr).sum(-1)
    entropy = curr.entropy().sum(-1)
    v = module.compute_values(mb, embeddings=out.get(Columns.EMBEDDINGS))
    prev_v, target = mb[Columns.VF_PREDS], mb[Postprocessing.VALUE_TARGETS]
    clipped = prev_v + (v - prev_v).clamp(-c["vf_clip_param"], c["vf_clip_param"])
    vf_loss = torch.maximum((v - target) ** 2, (clipped - target) ** 2)
    return torch.mean(
        -surrogate + kl_coeff * kl + c["vf_loss_coeff"] * vf_loss - c["entropy_coeff"] * entropy
    )


def old_rllib_update(module, optimizer, batch, kl_coeff, c, rng, cutting: str) -> None:
    """The loss of old RLlib on minibatches cut as ``cutting`` says: ``fixed`` (old RLlib's
    multi-GPU optimizer: shuffle once, the same minibatches every epoch in a new order),
    ``reshuffled`` (new minibatches every epoch) or ``rllib_order`` (the first epoch in the
    batch's order, then reshuffled)."""
    from ray.rllib.core.columns import Columns

    valid = torch.nonzero(batch[Columns.LOSS_MASK]).squeeze(-1).numpy()
    size, epochs = c["minibatch_size"], c["num_epochs"]
    n = len(valid) // size

    def shuffled():
        return valid[rng.permutation(len(valid))][: n * size]

    once = shuffled()
    for epoch in range(epochs):
        if cutting == "fixed":
            idx, order = once, rng.permutation(n)
        elif cutting == "reshuffled":
            idx, order = shuffled(), rng.permutation(n)
        else:  # rllib_order
            idx, order = (valid[: n * size] if epoch == 0 else shuffled()), range(n)
        for b in order:
            sel = torch.as_tensor(idx[b * size : (b + 1) * size])
            mb = {k: v[sel] for k, v in batch.items() if torch.is_tensor(v)}
            optimizer.zero_grad()
            old_rllib_loss(module, mb, kl_coeff, c).backward()
            optimizer.step()


def policy_stats(module, batch) -> dict[str, torch.Tensor]:
    """Per-sample mean and log std of the policy, on the loss-masked samples."""
    from ray.rllib.core.columns import Columns

    mask = batch[Columns.LOSS_MASK]
    with torch.no_grad():
        out = module.forward_train(batch)
    mean, log_std = out[Columns.ACTION_DIST_INPUTS][mask].chunk(2, dim=-1)
    return {"mean": mean, "log_std": log_std}


def compare(before, after) -> dict[str, float]:
    p = torch.distributions.Normal(before["mean"], before["log_std"].exp())
    q = torch.distributions.Normal(after["mean"], after["log_std"].exp())
    return {
        "kl": float(torch.distributions.kl_divergence(p, q).sum(-1).mean()),
        "entropy_change": float((q.entropy().sum(-1) - p.entropy().sum(-1)).mean()),
        "log_std_change": float((after["log_std"] - before["log_std"]).mean()),
        "mean_action_change": float((after["mean"] - before["mean"]).abs().mean()),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path, help="a kept PPO run's checkpoint folder")
    ap.add_argument("--repeats", type=int, default=5, help="updates per procedure (shuffles)")
    ap.add_argument("--envs", type=int, default=32, help="envs of the in-process sampler")
    ap.add_argument(
        "--kl-coeff",
        type=float,
        default=0.0,
        help="the KL penalty's coefficient in both procedures (default 0: both RLlibs halve "
        "it after every update whose KL is below 0.005, and the paper's log has it at 0 from "
        "1M env steps on; RLlib 2.60 does not keep it in checkpoints, so a restored learner "
        "would start again at kl_coeff)",
    )
    ap.add_argument(
        "--procedures",
        nargs="+",
        choices=PROCEDURES,
        default=list(PROCEDURES),
        help="which updates to measure (default: all)",
    )
    ap.add_argument("--out", type=Path, help="CSV of every update (default: print only)")
    a = ap.parse_args(argv)

    from ray.rllib.core.learner.training_data import TrainingData
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    t0 = time.time()
    algo, spec = build(a.checkpoint, a.envs)
    training = spec["method_settings"]["training"]
    c = {
        "clip_param": training["clip_param"],
        "vf_clip_param": training["vf_clip_param"],
        "vf_loss_coeff": training.get("vf_loss_coeff", 1.0),
        "entropy_coeff": training["entropy_coeff"],
        "minibatch_size": training["minibatch_size"],
        "num_epochs": training["num_epochs"],
    }
    steps = training["train_batch_size_per_learner"]
    episodes = algo.env_runner.sample(num_timesteps=steps, explore=True)
    learner = algo.learner_group._learner
    ma_batch = learner._make_batch_if_necessary(training_data=TrainingData(episodes=episodes))
    results_rows = []
    for mid in sorted(ma_batch.policy_batches):
        module = learner.module[mid]
        # RLlib's iterator shuffles the batch it is given in place: every procedure and
        # measurement works on copies of this one, in this order
        batch = {
            k: v.clone() for k, v in ma_batch.policy_batches[mid].items() if torch.is_tensor(v)
        }
        optimizer = learner.get_optimizer(module_id=mid)
        w0 = copy.deepcopy(module.state_dict())
        o0 = copy.deepcopy(optimizer.state_dict())
        kl_coeff = a.kl_coeff
        learner.curr_kl_coeffs_per_module[mid].data.fill_(kl_coeff)
        before = policy_stats(module, batch)
        print(
            f"{mid}: {int(batch['loss_mask'].sum())} samples, kl_coeff {kl_coeff:.3g}, "
            f"sampled in {time.time() - t0:.0f}s",
            file=sys.stderr,
        )
        for procedure in a.procedures:
            for r in range(a.repeats):
                module.load_state_dict(w0)
                optimizer.load_state_dict(o0)
                np.random.seed(r)
                random.seed(r)
                torch.manual_seed(r)
                logged = {}
                if procedure.startswith("rllib"):
                    copied = SampleBatch({k: v.clone() for k, v in batch.items()})
                    if procedure == "rllib_shuffled_first":
                        copied.shuffle()
                    out = learner.update(
                        batch=MultiAgentBatch({mid: copied}, ma_batch.env_steps()),
                        num_epochs=c["num_epochs"],
                        minibatch_size=c["minibatch_size"],
                        shuffle_batch_per_epoch=True,
                    )
                    logged = {"logged_kl": float(np.mean(out[mid]["mean_kl_loss"].peek()))}
                else:
                    rng = np.random.default_rng(r)
                    old_rllib_update(
                        module, optimizer, batch, kl_coeff, c, rng, procedure.split("_", 1)[1]
                    )
                row = {"module": mid, "procedure": procedure, "repeat": r}
                row.update(compare(before, policy_stats(module, batch)))
                row.update(logged)
                results_rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    algo.stop()
    df = pd.DataFrame(results_rows)
    cols = ["kl", "entropy_change", "log_std_change", "mean_action_change"]
    summary = df.groupby(["module", "procedure"], sort=False)[cols].agg(["mean", "std"])
    print(summary.to_string(float_format=lambda v: f"{v:.5f}"))
    if a.out is not None:
        results.write_csv_atomic(a.out, df)
    return 0


if __name__ == "__main__":
    sys.exit(main())
