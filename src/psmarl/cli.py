"""`psmarl` command line: one subcommand per workflow stage (`psmarl <stage> --help`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psmarl.cli_args import json_arg, positive_int, positive_seconds
from psmarl.errors import ConfigError, InputError, StageError


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _quiet_libraries() -> None:
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    warnings.filterwarnings("ignore", message=".*Casting input x to numpy array.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


# ---------------------------------------------------------------- subcommands
def _attempt_log(a: argparse.Namespace, stage: str):
    """The log of a resumable training job: earlier attempts replayed, a marker per start
    (psmarl.runlog)."""
    from psmarl import results
    from psmarl.runlog import AttemptLog

    log = AttemptLog(results.attempt_log(a.run_dir), stage)
    log.start()
    return log


def _train_with(log, fn, *args, **kwargs) -> None:
    try:
        summary = fn(*args, log=log, **kwargs)
    except BaseException as e:  # noqa: BLE001 - recorded for the next attempt, then raised
        log.failed(f"{type(e).__name__}: {e}")
        raise
    log(
        f"done: {summary['iterations']} iterations, {summary['env_steps']} env steps, "
        f"{summary['episodes']} episodes, best avg total reward "
        f"{summary['best_avg_total_reward']}"
    )


def _spec_backend(spec: Any) -> str:
    """The backend of a run spec's method (its catalogue entry)."""
    from psmarl import methods

    if not isinstance(spec, dict) or not isinstance(spec.get("method"), str):
        raise InputError("the run spec names no method (see psmarl.config.train_spec)")
    return methods.backend(spec["method"])


def cmd_train(a: argparse.Namespace) -> None:
    """Train with the backend of the spec's method (RLlib or BenchMARL)."""
    if _spec_backend(a.spec) == "benchmarl":
        _benchmarl_train(a, "psmarl train")
        return
    from psmarl.train import train

    _train_with(_attempt_log(a, "psmarl train"), train, a.spec, a.run_dir, cores=a.cores)


def _benchmarl_train(a: argparse.Namespace, name: str) -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")  # BenchMARL's progress bar, before tqdm loads
    if a.cores:  # torch's (and its OpenMP's) threads, before torch loads
        os.environ["OMP_NUM_THREADS"] = str(a.cores)
    try:
        import benchmarl  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the install
        raise InputError(
            f"the MADDPG/QMIX baselines need BenchMARL: pip install -e '.[marl]' ({e})"
        ) from None
    from psmarl.benchmarl_backend.train import train

    _train_with(_attempt_log(a, name), train, a.spec, a.run_dir, cores=a.cores)


def _training_run_args(sp: argparse.ArgumentParser, cores_help: str) -> None:
    """The arguments of a training subcommand (train, and its alias marl-train)."""
    sp.add_argument(
        "--spec",
        type=json_arg,
        required=True,
        help="run spec as JSON or @file (see psmarl.config.train_spec)",
    )
    sp.add_argument(
        "--run-dir", required=True, help="run folder (results/runs/ENV/METHOD/SHARING/seedN)"
    )
    sp.add_argument("--cores", type=positive_int, default=None, help=cores_help)


def cmd_marl_train(a: argparse.Namespace) -> None:
    """``psmarl train`` of a BenchMARL method (the old name, kept as an alias)."""
    if _spec_backend(a.spec) != "benchmarl":
        raise InputError(
            f"psmarl marl-train trains BenchMARL's methods; {a.spec['method']!r} is an "
            "RLlib method: use psmarl train"
        )
    _benchmarl_train(a, "psmarl marl-train")


def _eval_common(a, policy_spec, extra) -> None:
    from psmarl.evaluate import evaluate, write_evaluation

    spec = a.spec
    missing = [k for k in ("env", "episodes", "seed") if k not in spec]
    if isinstance(spec.get("env"), dict):
        missing += [f"env.{k}" for k in ("name", "preset") if k not in spec["env"]]
    if missing:
        raise InputError(
            f"--spec lacks {', '.join(missing)} (an evaluation spec: psmarl.config.eval_spec)"
        )
    episodes = a.episodes or spec["episodes"]
    workers = a.workers or int(spec.get("workers", 1))
    envs_per_worker = int(spec.get("envs_per_worker", 8))
    _log(
        f"evaluating {extra.get('policy')} on {spec['env']['name']} ({spec['env']['preset']}): "
        f"{episodes} plays, {workers} worker(s) x {envs_per_worker} envs"
    )
    df = evaluate(
        spec["env"],
        policy_spec,
        episodes,
        seed=spec["seed"],
        workers=workers,
        envs_per_worker=envs_per_worker,
        log=_log,
        stall_seconds=a.stall_seconds,
    )
    out = Path(a.out_dir)
    summary = write_evaluation(
        df,
        out / "episodes.csv",
        out / "summary.json",
        {
            **extra,
            "env": spec["env"]["name"],
            "preset": spec["env"]["preset"],
            "base_seed": spec["seed"],
        },
    )
    _log(
        f"mean {summary['mean']:.2f}  95% CI [{summary['ci95_low']:.2f}, "
        f"{summary['ci95_high']:.2f}]  over {summary['episodes']} plays"
    )


def cmd_evaluate(a: argparse.Namespace, sample_actions: bool = False) -> None:
    from psmarl.evaluate import PolicySpec, check_checkpoint, checkpoint_kind

    ckpt = check_checkpoint(a.checkpoint)
    kind = checkpoint_kind(ckpt)
    _eval_common(
        a,
        PolicySpec(kind, str(ckpt), sample_actions=sample_actions),
        {"policy": kind, "checkpoint": str(a.checkpoint), "deterministic": not sample_actions},
    )


def cmd_evaluate_sampled(a: argparse.Namespace) -> None:
    cmd_evaluate(a, sample_actions=True)


def cmd_random_baseline(a: argparse.Namespace) -> None:
    from psmarl.evaluate import PolicySpec

    _eval_common(a, PolicySpec("random"), {"policy": "random", "deterministic": False})


def cmd_idle_baseline(a: argparse.Namespace) -> None:
    from psmarl.evaluate import PolicySpec

    _eval_common(a, PolicySpec("idle"), {"policy": "idle", "deterministic": True})


def cmd_marl_eval_export(a: argparse.Namespace) -> None:
    from psmarl.exports import write_marl_eval

    n = write_marl_eval(a.root, [tuple(j) for j in a.jobs], a.out)
    _log(f"wrote {a.out}: {n} runs in marl-eval's structure")


def cmd_aggregate(a: argparse.Namespace) -> None:
    from psmarl.aggregate import aggregate

    jobs, envs = a.jobs, a.envs
    if a.configfile:
        from psmarl import config as cfg

        data = cfg.load(a.configfile)
        jobs = cfg.train_jobs(data) if jobs is None else jobs
        envs = cfg.env_names(data) if envs is None else envs
    if jobs is None or envs is None:
        raise InputError("give --jobs and --envs, or --configfile to take them from a config")
    aggregate(a.root, [tuple(j) for j in jobs], envs, log=_log, allow_missing=a.allow_missing)


def cmd_learning_curve(a: argparse.Namespace) -> None:
    from psmarl.figures import learning_curve_figure

    learning_curve_figure(
        a.root, a.env, [tuple(j) for j in a.runs], a.out, spec=a.spec or {}, log=_log
    )


def cmd_config_record(a: argparse.Namespace) -> None:
    import yaml

    from psmarl.results import write_text_atomic

    write_text_atomic(a.out, yaml.safe_dump(a.config, sort_keys=False))


def cmd_validate(a: argparse.Namespace) -> None:
    from psmarl import config as cfg

    data = cfg.load_merged(a.configfile)
    for key in cfg.drop_left_out(data):
        _log(f"left out by an overlay: {key}")
    cfg.schema_validate(data)
    cfg.validate(data)
    jobs = cfg.train_jobs(data)
    if data.get("baselines"):
        _log(
            "note: baselines: is the old name of methods: (read as such); move "
            f"{', '.join(f'baselines.{m}' for m in data['baselines'])} under methods:"
        )
    _log(f"config OK: {len(cfg.env_names(data))} env(s), {len(jobs)} training run(s)")


def cmd_envs(a: argparse.Namespace) -> None:
    from psmarl import envs

    for name in envs.names():
        spec = envs.get(name)
        print(f"{name}: {spec.description}")
        print(f"  default preset: {spec.default_preset}")
        print(f"  backends: {', '.join(spec.backends())}")
        for pname, p in sorted(spec.presets.items()):
            print(f"  preset {pname}: {p.description or ''}")
            print(f"    backend = {p.backend}")
            for k, v in sorted(p.kwargs.items()):
                print(f"    {k} = {v!r}")
            print(f"    agent_indication = {p.agent_indication}")
            print(f"    pad_observations = {str(p.pad_observations).lower()}")
            print(f"    pad_actions = {str(p.pad_actions).lower()}")
            for k, opt in sorted(spec.options.items()):
                print(f"    option {k} = {p.options.get(k, opt.default)!r}  ({opt.doc})")


def _flat(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(d, dict) and d:
        return [kv for k, v in d.items() for kv in _flat(v, f"{prefix}{k}.")]
    return [(prefix[:-1], d)]


def cmd_methods(a: argparse.Namespace) -> None:
    from psmarl import methods
    from psmarl.methods.spec import describe_settings

    if a.name:
        m = methods.get(a.name)
        print(f"{m.name}: {m.description}")
        print(f"  backend: {m.backend}")
        print(f"  actions: {', '.join(sorted(m.action_kinds))}")
        print(f"  settings (config key methods.{m.name}.<setting>; default, then what it does):")
        rows = (
            describe_settings(m.settings)
            if m.settings is not None
            else [(k, v, "") for k, v in _flat(dict(m.defaults))]
        )
        for key, value, doc in rows:
            print(f"    {key} = {json.dumps(value)}" + (f"  # {doc}" if doc else ""))
        return
    for name in methods.names():
        m = methods.get(name)
        print(f"{name}: {m.description} [{m.backend}; {', '.join(sorted(m.action_kinds))} actions]")
        print("  " + json.dumps(m.defaults, sort_keys=True))


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="psmarl",
        description="Parameter sharing in multi-agent deep RL (Terry et al.), stage by stage. "
        "The Snakemake workflow calls these; you can too.",
    )
    sub = p.add_subparsers(dest="command", metavar="<stage>", required=True)

    def add(name: str, fn: Callable, help_: str, desc: str | None = None):
        sp = sub.add_parser(name, help=help_, description=desc or help_)
        sp.set_defaults(func=fn)
        return sp

    sp = add(
        "train",
        cmd_train,
        "train one (env, method, sharing, seed) run (RLlib or BenchMARL, by the method)",
        "Train until the budget is reached, checkpointing every K iterations, with the "
        "backend of the method's catalogue entry (`psmarl methods`: RLlib, or BenchMARL for "
        "MADDPG/QMIX, the marl extra). Started again after an interruption, it resumes from "
        "<run-dir>/.work if that checkpoint was trained with the same settings (the budget, "
        "checkpoint cadence and runtime may differ); otherwise it keeps it aside "
        "(.work-superseded-<time>) and trains afresh. A finished run keeps its state in "
        "<run-dir>/.final: started again with a raised budget (Snakemake deletes the outputs "
        "first), it continues from there instead of training again from zero.",
    )
    _training_run_args(
        sp,
        "CPUs this run may use (default: the spec's runtime.num_cpus; BenchMARL: "
        "OMP_NUM_THREADS, else 1); 'auto' runner settings follow it",
    )

    sp = add(
        "marl-train",
        cmd_marl_train,
        "alias of `psmarl train` for a MADDPG or QMIX run (BenchMARL, the marl extra)",
        "Train a BenchMARL MADDPG/QMIX run on a psmarl env until the budget is reached, "
        "as `psmarl train` does (kept for scripts that call it). Resumes from "
        "<run-dir>/.work.",
    )
    _training_run_args(sp, "torch threads (default: OMP_NUM_THREADS, else 1)")

    from psmarl.evaluate import STALL_SECONDS

    for name, fn, help_ in (
        ("evaluate", cmd_evaluate, "N plays of a trained checkpoint (deterministic actions)"),
        (
            "evaluate-sampled",
            cmd_evaluate_sampled,
            "the same N plays with actions sampled from the policy, as training acts (the "
            "training curves' measure); seeded per play, so the result does not depend on "
            "--workers",
        ),
        (
            "random-baseline",
            cmd_random_baseline,
            "N plays of a uniform random policy (the random baseline)",
        ),
        (
            "idle-baseline",
            cmd_idle_baseline,
            "N plays with every agent idle (the idle baseline): pursuit's 'stay', zero "
            "thrust or torque on waterworld and multiwalker; what a trained policy must beat "
            "to do more than keep still",
        ),
    ):
        sp = add(name, fn, help_)
        sp.add_argument(
            "--spec",
            type=json_arg,
            required=True,
            help="evaluation spec as JSON or @file (see psmarl.config.eval_spec)",
        )
        sp.add_argument(
            "--out-dir", required=True, help="writes episodes.csv and summary.json here"
        )
        sp.add_argument(
            "--episodes",
            type=positive_int,
            default=None,
            help="override the spec's number of plays",
        )
        sp.add_argument(
            "--workers",
            type=positive_int,
            default=None,
            help="processes playing at once (default: the spec's workers, else 1); "
            "the results do not depend on it",
        )
        sp.add_argument(
            "--stall-seconds",
            type=positive_seconds,
            default=STALL_SECONDS,
            help="fail when a worker process that took plays makes no progress for "
            "this long (default %(default)s); a worker that dies fails it at once",
        )
        if name not in ("random-baseline", "idle-baseline"):
            sp.add_argument("--checkpoint", required=True, help="a run's checkpoint folder")

    sp = add(
        "marl-eval-export",
        cmd_marl_eval_export,
        "write every run's evaluation in marl-eval's JSON structure",
        "Write the evaluations of the given runs as marl-eval reads them "
        "(environment/task/algorithm/run_<seed>/step_0 and absolute_metrics, metric "
        "'return' per play); see psmarl.exports.",
    )
    sp.add_argument("--root", default="results", help="results folder")
    sp.add_argument(
        "--jobs", type=json_arg, required=True, help="JSON list of [env, method, sharing, seed]"
    )
    sp.add_argument("--out", required=True, help="the JSON file to write")

    sp = add("aggregate", cmd_aggregate, "collect runs, evaluations and baselines into tables")
    sp.add_argument("--root", default="results", help="results folder")
    sp.add_argument(
        "--jobs", type=json_arg, default=None, help="JSON list of [env, method, sharing, seed]"
    )
    sp.add_argument("--envs", nargs="+", default=None, help="envs with a random baseline")
    sp.add_argument(
        "--configfile",
        default=None,
        help="take the runs and envs from this config (instead of --jobs/--envs)",
    )
    sp.add_argument(
        "--allow-missing",
        action="store_true",
        help="leave out runs with missing results (listed in the log and in "
        "tables/missing_runs.csv) instead of failing",
    )

    sp = add("learning-curve", cmd_learning_curve, "learning-curve figure of one env")
    sp.add_argument("--root", default="results", help="results folder")
    sp.add_argument("--env", required=True)
    sp.add_argument(
        "--runs",
        type=json_arg,
        required=True,
        help="JSON list of [env, method, sharing, seed] to draw",
    )
    sp.add_argument("--out", nargs="+", required=True, help="output files (.png/.pdf/.svg)")
    sp.add_argument("--spec", type=json_arg, default=None, help="figure settings (JSON)")

    sp = add(
        "config-record",
        cmd_config_record,
        "write the workflow's config (JSON) as YAML, for the report",
    )
    sp.add_argument("--config", type=json_arg, required=True, help="the config as JSON")
    sp.add_argument("--out", required=True, help="YAML file to write")

    sp = add("validate", cmd_validate, "check a config file (schema + registries)")
    sp.add_argument("configfile", nargs="+", help="YAML config(s); later ones override")

    add("envs", cmd_envs, "list registered environments and their presets")
    sp = add(
        "methods",
        cmd_methods,
        "list the method catalogue (backend, action kinds, defaults)",
        "List every trainable method of the catalogue with its backend (rllib or benchmarl), "
        "the action kinds it takes and its defaults; with a NAME, that method's settings one "
        "per line, with what each does where the method documents it.",
    )
    sp.add_argument("name", nargs="?", help="one method: its settings with their docs")

    from psmarl import cluster, preflight, theory

    theory.add_cli(add)
    cluster.add_cli(add)
    preflight.add_cli(add)
    from psmarl import aggregate, figures

    aggregate.add_cli(add)
    figures.add_cli(add)
    from psmarl import kept_runs, learning_check, reproduction

    kept_runs.add_cli(add)
    reproduction.add_cli(add)
    learning_check.add_cli(add)
    return p


# Stages whose results depend on random draws made by RLlib/BenchMARL code
SEEDED_COMMANDS = ("train", "marl-train", "evaluate", "evaluate-sampled", "random-baseline")
#: old subcommand name -> new one (each workflow rule is named as its subcommand, `_` for `-`)
RENAMED = {
    "random": "random-baseline",
    "figures": "learning-curve",
    "dump-config": "config-record",
    "sharing-figure": "sharing-summary",
}


def renamed_command(args: list[str]) -> str | None:
    """The error for a subcommand that was renamed (None: not a renamed one)."""
    if args and args[0] in RENAMED:
        return (
            f"psmarl: `psmarl {args[0]}` is now `psmarl {RENAMED[args[0]]}` (same "
            f"options); run `psmarl {RENAMED[args[0]]} --help`"
        )
    return None


def _pin_hash_seed(argv: list[str] | None) -> None:
    """Re-run this command with PYTHONHASHSEED=0 unless a hash seed is already set.

    Python randomises str hashes per process, so the iteration order of sets of agent and
    module ids (inside RLlib) differs between runs, and so does the order in which agents
    draw their random actions: a fixed ``seed`` alone does not give the same run twice.
    Measured: two tiny PPO runs with seed 0 differed from the first iteration, and were
    identical with a fixed hash seed. Ray's workers inherit the variable.
    """
    if os.environ.get("PYTHONHASHSEED") is not None or argv is not None:
        return
    if len(sys.argv) < 2 or sys.argv[1] not in SEEDED_COMMANDS:
        return
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    os.execve(sys.executable, [sys.executable, "-m", "psmarl", *sys.argv[1:]], env)


def main(argv: list[str] | None = None) -> int:
    moved = renamed_command(sys.argv[1:] if argv is None else list(argv))
    if moved:
        print(moved, file=sys.stderr)
        return 2
    _pin_hash_seed(argv)
    _quiet_libraries()
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        a.func(a)
    except (ConfigError, InputError) as e:
        print(f"psmarl {a.command}: error: {e}", file=sys.stderr)
        return 2
    except StageError as e:
        print(f"psmarl {a.command}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
