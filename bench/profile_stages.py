"""Where the time goes: cProfile of training iterations and of an evaluation, per env.

    .venv/bin/python bench/profile_stages.py --config config/config.yaml --envs pursuit multiwalker

For each env (and method, default PPO shared), profiles ``--iterations`` training
iterations after one warm-up iteration, in the training process (the laptop runtime
samples in-process, so env stepping, inference and learning all show up), and one
evaluation of ``--eval-episodes`` plays with one worker. Writes the functions with the
largest own time and cumulative time to ``bench/profiles/<label>_<env>_<method>_{train,eval}.txt``
and a one-line breakdown (env step / module forward / learner update / other) at the top.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from psmarl import config as cfg
from psmarl import results
from psmarl.evaluate import PolicySpec, evaluate

# (label, substring of "file:function") whose cumulative time is reported; they may overlap
BUCKETS = [
    ("env step (psmarl's wrappers + env)", "psmarl/envs/wrappers.py:step"),
    ("env step (pettingzoo's conversion)", "pettingzoo/utils/conversions.py:step"),
    ("env step (psmarl's fast env)", "psmarl/envs/fast_sisl/"),
    ("learner update", "learner.py:update"),
    ("env runner sample", "single_agent_env_runner.py:sample"),
    ("multi-agent env runner sample", "multi_agent_env_runner.py:sample"),
    ("module forward (torch)", "torch/nn/modules/module.py:_call_impl"),
    ("connector pipelines", "connector_pipeline_v2.py:__call__"),
]


def _report(prof: cProfile.Profile, title: str, wall: float, top: int) -> str:
    st = pstats.Stats(prof)
    lines = [f"# {title}", f"wall {wall:.2f} s", ""]
    cum = {}
    for (file, _, func), (_, _, _, ct, _) in st.stats.items():
        key = f"{file}:{func}"
        for label, pat in BUCKETS:
            if pat in key:
                cum[label] = max(cum.get(label, 0.0), ct)
    lines.append("cumulative time of the main parts (largest single entry; parts overlap):")
    for label, _ in BUCKETS:
        if label in cum:
            lines.append(f"  {label:36s} {cum[label]:8.2f} s  {cum[label] / wall * 100:5.1f}%")
    for order in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(order).print_stats(top)
        lines += ["", f"## top {top} by {order}", buf.getvalue().split("\n", 4)[-1]]
    return "\n".join(lines)


def profile_train(spec, iterations: int, workdir: Path):
    from psmarl.train import build_algorithm_config, resolve_runtime, start_processes

    config, mapping = build_algorithm_config(spec)
    start_processes(resolve_runtime(spec.get("runtime", {})))
    algo = config.build_algo()
    algo.train()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(iterations):
        algo.train()
    prof.disable()
    wall = time.perf_counter() - t0
    ckpt = workdir / f"ckpt_{spec['env']['name']}"
    algo.save_to_path(str(ckpt))
    algo.stop()
    results.write_json_atomic(
        ckpt / results.RUN_META,
        {
            "agent_to_module": mapping,
            "normalize_actions": bool(config.normalize_actions),
            "clip_actions": bool(config.clip_actions),
        },
    )
    return prof, wall, ckpt


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--envs", nargs="+", default=["pursuit", "waterworld", "multiwalker"])
    p.add_argument("--method", default="ppo")
    p.add_argument("--sharing", default="shared", choices=["shared", "independent"])
    p.add_argument("--iterations", type=int, default=2)
    p.add_argument("--eval-episodes", type=int, default=8)
    p.add_argument("--top", type=int, default=30)
    p.add_argument(
        "--runtime",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override training.runtime keys, e.g. num_env_runners=2",
    )
    p.add_argument("--label", default=None)
    a = p.parse_args()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    c = cfg.load(a.config)
    from throughput import override_runtime

    override_runtime(c, a.runtime)
    c.setdefault("methods", {}).setdefault(a.method, {})
    label = a.label or Path(a.config).stem
    out = HERE / "profiles"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for env in a.envs:
            spec = cfg.train_spec(c, env, a.method, a.sharing, 0)
            prof, wall, ckpt = profile_train(spec, a.iterations, Path(tmp))
            f = out / f"{label}_{env}_{a.method}_{a.sharing}_train.txt"
            title = (
                f"{a.iterations} training iteration(s), {a.method} {a.sharing}, {env}; "
                f"{' '.join(sys.argv[1:])}"
            )
            f.write_text(_report(prof, title, wall, a.top))
            print(f"wrote {f}", flush=True)
            settings = cfg.env_settings(c, env)
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            evaluate(
                settings,
                PolicySpec("checkpoint", str(ckpt)),
                a.eval_episodes,
                seed=0,
                workers=1,
                envs_per_worker=8,
                log=lambda m: None,
            )
            prof.disable()
            wall = time.perf_counter() - t0
            f = out / f"{label}_{env}_{a.method}_eval.txt"
            f.write_text(
                _report(
                    prof, f"evaluation of {a.eval_episodes} plays, 1 worker, {env}", wall, a.top
                )
            )
            print(f"wrote {f}", flush=True)


if __name__ == "__main__":
    main()
