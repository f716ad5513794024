"""Throughput, side by side in one run, for each env (paper preset):

  raw        env steps/s of the wrapped parallel env with uniform random actions, 1 process
  evaluate   env steps/s of `psmarl evaluate` (deterministic [400,300] PPO modules,
             batched inference), 1 worker and 2 workers
  train      PPO training env steps/s, shared and independent, with the chosen config's
             PPO settings and runtime (a warm-up iteration is not counted)

    .venv/bin/python bench/throughput.py --config config/config.yaml      # laptop settings
    .venv/bin/python bench/throughput.py --config config/paper.yaml \\
        --runtime-from config/config.yaml

Writes bench/results/throughput_<label>.csv and rewrites bench/RESULTS.md from every CSV
under bench/results/.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from psmarl import config as cfg
from psmarl import envs, methods
from psmarl.evaluate import PolicySpec, evaluate


def override_runtime(c, pairs) -> None:
    """Apply KEY=VALUE overrides (``--runtime``) to the config's training.runtime."""
    rt = c.setdefault("training", {}).setdefault("runtime", {})
    for kv in pairs:
        key, sep, value = kv.partition("=")
        if not sep:
            raise SystemExit(f"--runtime: expected KEY=VALUE, got {kv!r}")
        rt[key] = int(value) if value.lstrip("-").isdigit() else value


def bench_config(path: str, runtime_from: str | None, runtime: list[str]):
    """The config at ``path``, its training.runtime taken from ``runtime_from`` (if given)
    and overridden by KEY=VALUE pairs (``--runtime``)."""
    c = cfg.load(path)
    if runtime_from:
        c["training"]["runtime"] = cfg.load(runtime_from)["training"]["runtime"]
    override_runtime(c, runtime)
    return c


def raw_speed(settings, min_steps: int, seed: int = 0) -> float:
    env = envs.make_parallel_env(settings)
    rng_spaces = {a: env.action_space(a) for a in env.possible_agents}
    for i, sp in enumerate(rng_spaces.values()):
        sp.seed(seed + i)
    steps, t0 = 0, time.perf_counter()
    ep = 0
    while steps < min_steps:
        env.reset(seed=seed + ep)
        ep += 1
        while env.agents and steps < min_steps:
            env.step({a: rng_spaces[a].sample() for a in env.agents})
            steps += 1
    el = time.perf_counter() - t0
    env.close()
    return steps / el


def _run_memory() -> tuple[float, float]:
    """(RSS, PSS) in MB of this process plus its RLlib env-runner processes (Ray actors).

    PSS (proportional set size) counts a page shared by k processes as 1/k in each, so the
    PSS sum is the memory the run occupies; the RSS sum counts shared pages (torch's
    libraries, in every process) once per process."""
    import psutil

    procs = [psutil.Process()]
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if cmd.startswith("ray::") and "EnvRunner" in cmd:
            procs.append(proc)
    rss = pss = 0
    for proc in procs:
        try:
            m = proc.memory_full_info()
        except psutil.Error:
            continue
        rss, pss = rss + m.rss, pss + m.pss
    return rss / 2**20, pss / 2**20


def train_speed(spec, iterations: int, workdir: Path, barrier=None):
    """(env steps/s over `iterations` iterations after one warm-up, (RSS MB, PSS MB) of the
    run's processes, checkpoint)."""
    from psmarl.train import build_algorithm_config, resolve_runtime, start_processes

    runtime = resolve_runtime(spec.get("runtime", {}))
    config, _ = build_algorithm_config(spec)
    # as `psmarl train` does (Ray once per benchmark: the first runtime's CPUs)
    start_processes(runtime)
    algo = config.build_algo()
    algo.train()  # warm-up
    if barrier is not None:  # bench/layouts.py: jobs run side by side start timing together
        barrier.wait()
    steps, t0 = 0, time.perf_counter()
    for _ in range(iterations):
        r = algo.train()
        steps += int(r["env_runners"]["num_env_steps_sampled"])
    el = time.perf_counter() - t0
    rss, pss = _run_memory()
    ckpt = workdir / f"ckpt_{spec['env']['name']}_{spec['sharing']}"
    algo.save_to_path(str(ckpt))
    algo.stop()
    return steps / el, (rss, pss), ckpt


def method_fits(method: str, settings) -> bool:
    env = envs.make_parallel_env(settings)
    try:
        kinds = {methods.action_kind(env.action_space(a)) for a in env.possible_agents}
    finally:
        env.close()
    return kinds <= set(methods.get(method).action_kinds)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--runtime-from", default=None, help="take training.runtime from this config")
    p.add_argument("--envs", nargs="+", default=["pursuit", "waterworld", "multiwalker"])
    p.add_argument("--raw-steps", type=int, default=5000)
    p.add_argument(
        "--eval-episodes",
        nargs="+",
        default=["16"],
        metavar="N|ENV=N",
        help="plays per evaluation timing: one number, or ENV=N per env (others: 16)",
    )
    p.add_argument(
        "--no-independent",
        action="store_true",
        help="time shared training only (e.g. when only evaluation is wanted)",
    )
    p.add_argument("--train-iterations", type=int, default=3)
    p.add_argument(
        "--methods",
        nargs="+",
        default=["ppo"],
        help="methods to time in training (each on the envs whose actions it fits)",
    )
    p.add_argument(
        "--iteration-steps",
        type=int,
        default=1000,
        help="off-policy methods: env steps per timed iteration (0 = the method's own)",
    )
    p.add_argument(
        "--peer",
        action="store_true",
        help="also time the SB3 + SuperSuit PPO recipe (needs the bench extra)",
    )
    p.add_argument(
        "--peer-copies",
        type=int,
        default=2,
        help="env copies concatenated by SuperSuit for the peer",
    )
    p.add_argument(
        "--runtime",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override training.runtime keys, e.g. num_env_runners=2",
    )
    p.add_argument(
        "--peer-procs",
        type=int,
        nargs="*",
        default=[2],
        help="also time the peer with its env copies in this many subprocesses "
        "(SuperSuit's num_cpus); the comparison uses the peer's fastest",
    )
    p.add_argument("--label", default=None)
    p.add_argument("--note", default="", help="conditions of the run, printed under its table")
    a = p.parse_args()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    c = bench_config(a.config, a.runtime_from, a.runtime)
    eval_plays: dict[str, int] = {}
    for item in a.eval_episodes:
        env_name, sep, n = item.rpartition("=")
        eval_plays[env_name if sep else "*"] = int(n)
    label = a.label or Path(a.config).stem
    from psmarl import results

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for env in a.envs:
            settings = cfg.env_settings(c, env)
            raw = raw_speed(settings, a.raw_steps)
            row = {"env": env, "raw_steps_per_s": raw}
            print(f"{env}: raw {raw:.0f} steps/s", flush=True)
            for method in a.methods:
                if not method_fits(method, settings):
                    continue
                c.setdefault("methods", {}).setdefault(method, {})
                for sharing in ("shared",) if a.no_independent else ("shared", "independent"):
                    spec = cfg.train_spec(c, env, method, sharing, 0)
                    training = spec["method_settings"].get("training", {})
                    if (
                        a.iteration_steps
                        and "min_sample_timesteps_per_iteration"
                        in methods.known_keys(method)["training"]
                    ):
                        # off-policy iterations last a fixed number of env steps (ApeX: 25k);
                        # time the same replay ratio over shorter iterations
                        training["min_sample_timesteps_per_iteration"] = a.iteration_steps
                        spec["method_settings"]["training"] = training
                    sps, (rss, pss), ckpt = train_speed(spec, a.train_iterations, Path(tmp))
                    prefix = "train" if method == "ppo" else f"train_{method}"
                    row[f"{prefix}_{sharing}_steps_per_s"] = sps
                    row[f"{prefix}_{sharing}_ratio"] = sps / raw
                    row[f"{prefix}_{sharing}_pss_mb"] = pss
                    print(
                        f"{env}: train {method} {sharing} {sps:.0f} steps/s "
                        f"(PSS {pss:.0f} MB, RSS sum {rss:.0f} MB)",
                        flush=True,
                    )
                    plays = eval_plays.get(env, eval_plays.get("*", 16))
                    if method != "ppo" or sharing != "shared" or plays < 1:
                        continue
                    row["eval_plays"] = plays
                    # evaluation needs psmarl's checkpoint metadata: write it as train.py does
                    mapping = {ag: "shared" for ag in envs.agent_ids(settings)}
                    results.write_json_atomic(
                        ckpt / results.RUN_META,
                        {
                            "agent_to_module": mapping,
                            "normalize_actions": True,
                            "clip_actions": False,
                        },
                    )
                    for workers in (1, 2):
                        t0 = time.perf_counter()
                        df = evaluate(
                            settings,
                            PolicySpec("checkpoint", str(ckpt)),
                            plays,
                            seed=0,
                            workers=workers,
                            envs_per_worker=8,
                            log=lambda m: None,
                        )
                        el = time.perf_counter() - t0
                        row[f"eval_{workers}w_steps_per_s"] = df["length"].sum() / el
                        row[f"eval_{workers}w_ratio"] = row[f"eval_{workers}w_steps_per_s"] / raw
                        print(
                            f"{env}: evaluate {workers} worker(s) "
                            f"{row[f'eval_{workers}w_steps_per_s']:.0f} steps/s",
                            flush=True,
                        )
                    row["eval_mean_length"] = float(df["length"].mean())
                    row["eval_2w_vs_1w"] = row["eval_2w_steps_per_s"] / row["eval_1w_steps_per_s"]
            if a.peer:
                from peers import sb3_ppo_speed

                ppo = cfg.train_spec(c, env, "ppo", "shared", 0)["method_settings"]["training"]
                best = 0.0
                for procs in sorted(set([0] + a.peer_procs)):
                    sps = sb3_ppo_speed(
                        settings,
                        train_batch=ppo["train_batch_size_per_learner"],
                        minibatch=ppo["minibatch_size"],
                        epochs=ppo["num_epochs"],
                        iterations=a.train_iterations,
                        copies=a.peer_copies,
                        env_procs=procs,
                    )
                    tag = "sb3" if procs == 0 else f"sb3_{procs}p"
                    row[f"{tag}_shared_steps_per_s"] = sps
                    row[f"{tag}_shared_ratio"] = sps / raw
                    best = max(best, sps)
                    print(
                        f"{env}: SB3 + SuperSuit PPO ({procs or 'no'} env subprocesses) "
                        f"{sps:.0f} steps/s",
                        flush=True,
                    )
                # against the peer's faster arrangement on this machine
                shared = row.get("train_shared_steps_per_s", float("nan"))
                row["train_shared_vs_sb3"] = shared / best
            rows.append(row)
    save_section(rows, "throughput", label, a.note)


def save_section(
    rows, kind: str, label: str, note: str | None = "", digits: int = 3, command: str = ""
) -> Path:
    """Write one benchmark's rows to bench/results/<kind>_<label>.csv, with the label, the
    machine, the date and the command line (``command``, or the running script's), then
    rewrite RESULTS.md."""
    df = pd.DataFrame(rows)
    df.insert(0, "label", label)
    df["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    df["date"] = time.strftime("%Y-%m-%d")
    df["command"] = command or f"python bench/{Path(sys.argv[0]).name} " + " ".join(
        f"'{x}'" if " " in x else x for x in sys.argv[1:]
    )
    if note is not None:
        df["note"] = note
    out = HERE / "results" / f"{kind}_{label}.csv"
    out.parent.mkdir(exist_ok=True)
    df.round(digits).to_csv(out, index=False)
    write_results_md()
    print(f"wrote {out} and {HERE / 'RESULTS.md'}")
    return out


def _md_table(t: pd.DataFrame) -> str:
    t = t.copy()
    for col in t.columns:
        if pd.api.types.is_numeric_dtype(t[col]):
            fmt = "{:.2f}" if ("ratio" in col or "_vs_" in col) else "{:.0f}"
            t[col] = t[col].map(lambda v, f=fmt: "" if pd.isna(v) else f.format(v))
    header = "| " + " | ".join(t.columns) + " |"
    sep = "|" + "|".join("---" for _ in t.columns) + "|"
    return "\n".join(
        [header, sep] + ["| " + " | ".join(map(str, r)) + " |" for r in t.itertuples(index=False)]
    )


OFF_POLICY = ("sac", "td3", "ddpg", "apex_ddpg", "dqn", "rainbow", "apex_dqn")


def _csv(name: str) -> pd.DataFrame | None:
    f = HERE / "results" / f"{name}.csv"
    return pd.read_csv(f) if f.exists() else None


def targets_table() -> str:
    """Issue 9's targets against the current sections, computed from their CSVs."""
    rows = []

    def add(target, figure, met, source):
        rows.append(
            {
                "target": target,
                "measured": figure,
                "met": "yes" if met else "**no**",
                "section": source,
            }
        )

    ppo = _csv("throughput_paper-ppo")
    if ppo is not None:
        for sharing in ("shared", "independent"):
            col = f"train_{sharing}_ratio"
            if col in ppo:
                add(
                    f"PPO training ({sharing}) >= 0.8x raw",
                    ", ".join(f"{e} {v:.2f}" for e, v in zip(ppo.env, ppo[col])),
                    bool((ppo[col] >= 0.8).all()),
                    "paper-ppo",
                )
        if "train_shared_vs_sb3" in ppo:
            add(
                "PPO training >= 1.5x SB3 + SuperSuit",
                ", ".join(f"{e} {v:.2f}x" for e, v in zip(ppo.env, ppo.train_shared_vs_sb3)),
                bool((ppo.train_shared_vs_sb3 >= 1.5).all()),
                "paper-ppo",
            )
        if "train_independent_pss_mb" in ppo:
            m = ppo.train_independent_pss_mb.max()
            add(
                "independent run < 2 GB resident (pursuit: 8 modules)",
                f"largest independent run {m:.0f} MB (PSS, training + runner processes)",
                bool(m < 2048),
                "paper-ppo",
            )
    ev = _csv("throughput_paper-ppo-eval")
    if ev is not None:
        add(
            "evaluation, 1 worker >= 0.9x raw",
            ", ".join(f"{e} {v:.2f}" for e, v in zip(ev.env, ev.eval_1w_ratio)),
            bool((ev.eval_1w_ratio >= 0.9).all()),
            "paper-ppo-eval",
        )
        add(
            "evaluation, 2 workers >= 1.8x 1 worker",
            ", ".join(
                f"{e} {v:.2f}x ({n:.0f} plays)"
                for e, v, n in zip(ev.env, ev.eval_2w_vs_1w, ev.eval_plays)
            ),
            bool((ev.eval_2w_vs_1w >= 1.8).all()),
            "paper-ppo-eval",
        )
    # off-policy: at the paper's updates per env step (Table 4's 64-env sampling rounds)
    meth, source = _csv("throughput_paper-methods-table4-rounds"), "paper-methods-table4-rounds"
    if meth is None:
        meth, source = _csv("throughput_paper-methods"), "paper-methods"
    if meth is not None:
        for method in OFF_POLICY:
            vals = []
            for sharing in ("shared", "independent"):
                col = f"train_{method}_{sharing}_ratio"
                if col in meth:
                    vals += [(e, sharing, v) for e, v in zip(meth.env, meth[col]) if pd.notna(v)]
            if vals:
                add(
                    f"{method} >= 0.5x raw",
                    ", ".join(f"{e} {sh[:3]}. {v:.2f}" for e, sh, v in vals),
                    all(v >= 0.5 for _, _, v in vals),
                    source,
                )
    wf = _csv("workflow_paper-grid")
    if wf is not None:
        r = wf.iloc[0]
        add(
            "`snakemake -n` and a no-op rerun of the paper grid <= 5 s",
            f"{r.jobs} jobs: dry run {r.dry_run_s:.1f} s, no-op rerun {r.noop_rerun_s:.1f} s",
            bool(max(r.dry_run_s, r.noop_rerun_s) <= 5),
            "paper-grid",
        )
    if not rows:
        return ""
    return (
        "## Targets (issue 9)\n\nComputed from the sections below. Where a target is not met,"
        " `bench/EXPERIMENTS.md` gives the measured ceiling and why.\n\n"
        + _md_table(pd.DataFrame(rows))
        + "\n"
    )


def fast_env_targets() -> str:
    """Issue 16's targets against the fast-envs section (bench/fast_envs.py)."""
    fast = _csv("fastenv_fast-envs")
    if fast is None:
        return ""
    fast = fast.set_index(["env", "measure"])
    rows = []

    def add(target, env, measure, col, goal):
        if (env, measure) not in fast.index:
            return
        v = fast.loc[(env, measure), col]
        rows.append(
            {
                "target": target,
                "measured": f"{v:.2f}x",
                "met": "yes" if v >= goal else "**no**",
                "section": "fast-envs",
            }
        )

    add("pursuit: fast env >= 10x PettingZoo's", "pursuit", "raw env", "fast_vs_pettingzoo", 10)
    for env in ("waterworld", "multiwalker"):
        add(f"{env}: fast env >= 1.3x PettingZoo's", env, "raw env", "fast_vs_pettingzoo", 1.3)
    for sharing in ("shared", "independent"):
        add(
            f"pursuit: PPO training ({sharing}) with the fast env >= 1.5x PettingZoo's raw "
            "env speed",
            "pursuit",
            f"ppo training, {sharing}",
            "fast_vs_pettingzoo_raw",
            1.5,
        )
    if not rows:
        return ""
    return (
        "## Targets (issue 16: fast envs)\n\nComputed from the section fast-envs (ratios "
        "measured side by side in one run).\n\n" + _md_table(pd.DataFrame(rows)) + "\n"
    )


def write_results_md() -> None:
    """Rewrite bench/RESULTS.md from every CSV under bench/results/."""
    parts = [
        "# Benchmark results\n",
        "Written by `bench/throughput.py` from the CSVs in `bench/results/` (do not edit by hand).",
        "Env steps per second; ratios are to the raw env speed measured in the same run.",
        "`*_rss_mb` (older sections): resident memory of the benchmark process after that training",
        "run. `*_pss_mb`: proportional set size of the benchmark process plus its remote "
        "env-runner",
        "processes after that run (shared pages counted once over the processes). Either way the",
        "benchmark process does not give memory back, so after its first runs it bounds, not",
        "measures, one run.\n",
        targets_table(),
        fast_env_targets(),
    ]
    for csv in sorted((HERE / "results").glob("*.csv")):
        df = pd.read_csv(csv)
        first = df.iloc[0]
        parts.append(f"## {first['label']}\n")
        parts.append(
            f"Command: `{first['command']}`  \nMachine: {first['machine']}, {first['date']}\n"
        )
        meta = {"label", "machine", "date", "command", "note"}
        per_method = re.compile(
            r"^train_(?:(\w+?)_)?(shared|independent)_(steps_per_s|ratio|rss_mb|pss_mb)$"
        )
        cols = [c for c in df.columns if c not in meta and not per_method.match(c)]
        if len(cols) > 1:
            parts.append(_md_table(df[cols]) + "\n")
        # training: one row per (env, method), shared and independent side by side
        rows = []
        for _, r in df.iterrows():
            found: dict[str, dict[str, float]] = {}
            for c in df.columns:
                m = per_method.match(c)
                if m and pd.notna(r[c]):
                    found.setdefault(m.group(1) or "ppo", {})[f"{m.group(2)}_{m.group(3)}"] = r[c]
            for method, vals in found.items():
                rows.append({"env": r["env"], "method": method, **vals})
        if rows:
            order = [
                "env",
                "method",
                "shared_steps_per_s",
                "shared_ratio",
                "independent_steps_per_s",
                "independent_ratio",
                "shared_rss_mb",
                "independent_rss_mb",
                "shared_pss_mb",
                "independent_pss_mb",
            ]
            t = pd.DataFrame(rows)
            table = _md_table(t[[c for c in order if c in t.columns]])
            parts.append("Training:\n\n" + table + "\n")
        note = first.get("note")
        if isinstance(note, str) and note:
            parts.append(note + "\n")
    (HERE / "RESULTS.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
