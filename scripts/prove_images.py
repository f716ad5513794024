"""Build every stage image from its recipe and run the tiny workflow's jobs inside them.

Run it through ``scripts/prove_images.sh`` (root: it installs podman and makes the base image
first). Not part of ``./test.sh``: it builds several GB of images (the rl and marl images
carry the CUDA build of torch) and runs the workflow twice; about an hour on 2 cores.

What it does, in one work folder (``--workdir``, default /var/tmp/psmarl-prove):

1. builds ``containers/{rl,marl,analysis}.def`` with podman (tests/cluster/podman_build.py:
   spython reads the recipe, its ``%post`` runs unchanged, on a Debian bookworm base made with
   debootstrap standing in for the digest-pinned ``From:``), records build time and size;
2. checks each image with ``psmarl check-images --runner podman`` and probes its torch
   (version, CUDA build, where it is installed);
3. runs the workflow on ``tests/data/tiny.yaml`` + ``tiny.baselines.yaml`` +
   ``tiny.images.yaml`` locally (``local/``) and with every stage in its image
   (``image/``: ``snakemake --sdm apptainer`` through the podman stand-in
   tests/cluster/bin/apptainer, which records from inside each container which Python and
   ``psmarl`` ran);
4. evaluates the *local* run's checkpoints inside the images (``crosseval/``): evaluation is
   seeded, so its rows must equal the local evaluation's whatever training did;
5. compares (retraining locally, once more, each run whose training differs), and writes
   ``docs/data/prove_images.json`` and ``docs/data/prove_images.md``
   (``--record``) with the date, the machine and the commit.

6. on this CPU-only machine, checks the GPU path as far as it goes: inside the rl and marl
   images torch must report no GPU with a clear reason (``cluster.probe_gpu``), and in the rl
   image one PPO iteration trains with the learner on the CPU (``num_gpus: 0``) and fails
   loudly with ``num_gpus: 1`` (``cluster.gpu_training_run``), as it would on a node whose
   GPU is not visible.

Exit status 0 only if every image built, every job ran in its image, the cross-evaluation
matched exactly, and every other output matched the local run's except in runs that do not
repeat between two local runs either (step 5 retrains each differing run locally to tell).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests" / "cluster"))
import podman_build  # noqa: E402

from psmarl import cluster  # noqa: E402

BIN = Path(sys.executable).parent
STANDIN_BIN = REPO / "tests" / "cluster" / "bin"
CONFIGS = [
    REPO / "tests" / "data" / n for n in ("tiny.yaml", "tiny.baselines.yaml", "tiny.images.yaml")
]
TIMING = re.compile(r"time|wall|timestamp", re.IGNORECASE)
BUILD_RECORD = podman_build.CACHE / "builds.json"


def log(msg: str) -> None:
    print(f"[prove_images {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    env = kw.pop("env", None) or podman_build.podman_env()
    return subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        int(ln.split()[1])
        for ln in Path("/proc/meminfo").read_text().splitlines()
        if ln.startswith("MemTotal")
    )
    return (
        f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), {mem / 2**20:.0f} GiB, "
        f"{platform.system()} {platform.release()}, podman "
        f"{sh(['podman', '--version']).stdout.split()[-1]}"
    )


def commit() -> str:
    rev = sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = sh(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"]).stdout
    return rev + (" (with uncommitted changes)" if dirty.strip() else "")


# ---------------------------------------------------------------- 1-2: images
def build_images(stages: list[str], logdir: Path, timeout: float) -> dict[str, dict]:
    record = json.loads(BUILD_RECORD.read_text()) if BUILD_RECORD.exists() else {}
    out = {}
    for stage in stages:
        before = set(
            sh(
                [
                    "podman",
                    "images",
                    "--format",
                    "{{.Repository}}:{{.Tag}}",
                    f"localhost/psmarl-{stage}",
                ]
            ).stdout.split()
        )
        blog = logdir / f"build-{stage}.log"
        log(f"building containers/{stage}.def (log: {blog})")
        t0 = time.monotonic()
        try:
            tag = podman_build.build(
                REPO / "containers" / f"{stage}.def", stage, timeout=timeout, log=blog
            )
        except (podman_build.BuildError, subprocess.TimeoutExpired) as e:
            out[stage] = {"built": False, "error": str(e)[-3000:]}
            log(f"{stage}: BUILD FAILED\n{str(e)[-3000:]}")
            continue
        seconds = time.monotonic() - t0
        if tag in before:  # reused: report the time of the build that made it
            seconds = record.get(tag, {}).get("build_seconds")
            cached = True
        else:
            record[tag] = {"build_seconds": round(seconds), "date": time.strftime("%Y-%m-%d")}
            BUILD_RECORD.write_text(json.dumps(record, indent=1))
            cached = False
        size = int(sh(["podman", "image", "inspect", "--format", "{{.Size}}", tag]).stdout)
        out[stage] = {
            "built": True,
            "tag": tag,
            "cached": cached,
            "build_seconds": None if seconds is None else round(seconds),
            "built_on": record.get(tag, {}).get("date"),
            "size_bytes": size,
            **inspect_image(tag),
        }
        log(
            f"{stage}: {tag}, {size / 1e9:.2f} GB, "
            f"{'cached' if cached else f'built in {seconds:.0f} s'}"
        )
    return out


INSPECT = """\
import importlib.metadata as md, json, sys
d = {"python": sys.executable, "prefix": sys.prefix, "version": sys.version.split()[0],
     "packages": {x.metadata["Name"].lower(): x.version for x in md.distributions()}}
try:
    import torch
    d.update(torch=torch.__version__, torch_cuda=torch.version.cuda, torch_file=torch.__file__,
             cuda_available=torch.cuda.is_available())
except ImportError:
    d["torch"] = None
import psmarl
d["psmarl_file"] = psmarl.__file__
print(json.dumps(d))
"""


def inspect_image(tag: str) -> dict:
    """Inside the image: its Python, torch (and whether it is the CUDA build), psmarl, sizes."""
    r = sh(["podman", "run", "--rm", "--network", "none", tag, "python3", "-c", INSPECT])
    info = (
        json.loads(r.stdout.splitlines()[-1]) if r.returncode == 0 else {"error": r.stderr[-800:]}
    )
    pk = info.pop("packages", None) or {}
    info["key_packages"] = {
        p: pk[p]
        for p in (
            "torch",
            "ray",
            "pettingzoo",
            "benchmarl",
            "torchrl",
            "tensordict",
            "pymunk",
            "box2d",
            "pygame",
            "pandas",
            "rliable",
            "psmarl",
        )
        if p in pk
    }
    du = sh(
        [
            "podman",
            "run",
            "--rm",
            "--network",
            "none",
            tag,
            "sh",
            "-c",
            "du -sm /opt/venv; du -sm /opt/venv/lib/python3*/site-packages/* | sort -rn | head -6",
        ]
    )
    lines = du.stdout.split("\n")
    info["venv_mb"] = int(lines[0].split()[0]) if du.returncode == 0 else None
    info["largest_mb"] = {Path(p).name: int(n) for n, p in (ln.split() for ln in lines[1:] if ln)}
    return info


def check_images(tags: dict[str, str], wd: Path) -> dict[str, str]:
    """`psmarl check-images --runner podman` on the built images (the CLI a cluster user runs
    with --runner apptainer)."""
    cfg = wd / "check-images.yaml"
    cfg.write_text(yaml.safe_dump({"containers": tags}))
    out = {}
    for stage in tags:
        r = sh(
            [
                str(BIN / "psmarl"),
                "check-images",
                "--configfile",
                str(cfg),
                "--runner",
                "podman",
                "--stage",
                stage,
            ]
        )
        out[stage] = (
            (r.stdout + r.stderr).strip().splitlines()[-1]
            if r.returncode == 0
            else f"FAILED: {r.stderr.strip()[-500:]}"
        )
        log(f"check-images {stage}: {out[stage]}")
    return out


def gpu_path_without_gpu(tags: dict[str, str]) -> dict[str, str]:
    """The GPU checks of `psmarl check-images --gpu`, inside the images on this CPU-only
    machine: each must fail with its reason, and training on the CPU must work."""
    from psmarl.errors import InputError

    out, problems = {}, []
    for stage in cluster.GPU_STAGES:
        try:
            d = cluster.probe_gpu(
                ["podman", "run", "--rm", "--network", "none", tags[stage]], stage
            )
            problems.append(f"{stage}: torch sees a GPU without one passed in: {d}")
        except InputError as e:
            out[f"{stage}: torch without a GPU"] = str(e).split(": run the check")[0]
    rl = ["podman", "run", "--rm", "--network", "none", tags["rl"]]
    try:
        s = cluster.gpu_training_run(rl, num_gpus=0)
        out["rl: one PPO iteration, num_gpus 0"] = f"learner on {s['learner_device']}"
    except InputError as e:
        problems.append(f"rl: training on the CPU failed: {e}")
    try:
        cluster.gpu_training_run(rl, num_gpus=1)
        problems.append("rl: training with num_gpus 1 ran without a GPU")
    except InputError as e:
        last = [ln for ln in str(e).splitlines() if "Error" in ln]
        out["rl: one PPO iteration, num_gpus 1"] = "fails: " + (last[-1] if last else str(e)[-300:])
    for k, v in out.items():
        log(f"{k}: {v}")
    for p_ in problems:
        log(f"PROBLEM {p_}")
    return {"checks": out, "problems": problems}


# ---------------------------------------------------------------- 3-4: the workflow
def workflow_env(**extra: str) -> dict[str, str]:
    env = podman_build.podman_env()
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(OMP_NUM_THREADS="1", SDL_VIDEODRIVER="dummy", RAY_DEDUP_LOGS="0")
    env.update(extra)
    return env


def snakemake(wd: Path, *args: str, configs: list[Path], env: dict, logfile: Path) -> dict:
    cmd = [
        str(BIN / "snakemake"),
        "-s",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(wd),
        "--configfile",
        *map(str, configs),
        "--cores",
        "2",
        "--printshellcmds",
        *args,
    ]
    log(f"{wd.name}: {' '.join(shlex.quote(c) for c in cmd[1:])} (log: {logfile})")
    t0 = time.monotonic()
    with open(logfile, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, text=True, env=env)
    seconds = time.monotonic() - t0
    text = logfile.read_text()
    rules = re.findall(r"^(?:local)?rule (\w+):", text, re.MULTILINE)
    counts = {r_: rules.count(r_) for r_ in sorted(set(rules)) if r_ != "all"}
    log(f"{wd.name}: exit {r.returncode} after {seconds:.0f} s, jobs {counts}")
    return {
        "returncode": r.returncode,
        "seconds": round(seconds),
        "jobs": counts,
        "log_tail": text[-3000:] if r.returncode else "",
    }


def image_files(tags: dict[str, str], folder: Path) -> Path:
    """Stand-in image files (tests/cluster/bin/apptainer) and a config overlay naming them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stage, tag in tags.items():
        f = folder / f"{stage}.sif"
        f.write_text(f"podman-image: {tag}\n")
        paths[stage] = str(f)
    overlay = folder / "containers.yaml"
    overlay.write_text(yaml.safe_dump({"containers": paths}))
    return overlay


def subcommand_stages(rules: Path = REPO / "workflow" / "rules") -> dict[str, str]:
    """psmarl subcommand of each rule with a ``container:`` -> the stage of the image the rule
    names ("method": the stage of the job's method, ``cluster.image_for_method``)."""
    out = {}
    for f in sorted(rules.glob("*.smk")):
        for m in re.finditer(
            r"^rule (\w+):\n(.*?)(?=^rule |\Z)", f.read_text(), re.MULTILINE | re.DOTALL
        ):
            c = re.search(r"^    container:\n\s+(.*)$", m.group(2), re.MULTILINE)
            if not c:
                continue
            fixed = re.search(r'image\(config, "(\w+)"\)', c.group(1))
            stage = (
                fixed.group(1)
                if fixed
                else (
                    "method" if "image_for_method(" in c.group(1) else f"? ({c.group(1).strip()})"
                )
            )
            for sub in re.findall(r"psmarl ([\w-]+)", m.group(2).split("shell:")[-1]):
                out[sub] = stage
    return out


def expected_stage(command: list[str], stages: dict[str, str] | None = None) -> tuple[str, str]:
    """(psmarl subcommand, the stage whose image it must run in) of a traced container call."""
    stages = subcommand_stages() if stages is None else stages
    text = command[-1] if command else ""
    m = re.search(r"psmarl ([\w-]+)", text)
    sub = m.group(1) if m else "?"
    stage = stages.get(sub, "?")
    if stage == "method":  # --run-dir / --checkpoint results/runs/{env}/{method}/...
        run = re.search(r"runs/[^/\s]+/([^/\s]+)/", text)
        stage = cluster.stage_of_method(run.group(1)) if run else "?"
    return sub, stage


def check_trace(trace: Path, tags: dict[str, str]) -> dict:
    """Every container call ran the image of its stage, with that image's Python and psmarl."""
    calls = [json.loads(ln) for ln in trace.read_text().splitlines()] if trace.exists() else []
    problems, per_stage, stages = [], {}, subcommand_stages()
    for c in calls:
        sub, stage = expected_stage(c["command"], stages)
        per_stage.setdefault(stage, {})
        per_stage[stage][sub] = per_stage[stage].get(sub, 0) + 1
        if c["image"] != tags.get(stage):
            problems.append(f"psmarl {sub} ran in {c['image']}, not the {stage} image")
        if c["psmarl"] != "/opt/venv/bin/psmarl" or not c["python"].startswith(
            "/opt/venv/bin/python3 /opt/venv "
        ):
            problems.append(f"psmarl {sub}: psmarl {c['psmarl']}, python {c['python']}")
    pythons = sorted({c["python"] for c in calls})
    return {
        "calls": len(calls),
        "per_stage": per_stage,
        "pythons": pythons,
        "host_python": f"{sys.executable} {sys.prefix}",
        "problems": problems,
    }


# ---------------------------------------------------------------- 5: comparison
def data_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix in (".csv", ".json")
        and not {"checkpoint", "logs", ".work", ".final", "report"} & set(p.parts)
        and p.name != "config.yaml"
    )


def compare_file(a: Path, b: Path) -> str:
    """'same' (every column but wall-clock ones equal, exactly) or what differs."""
    if not b.exists():
        return "missing"
    if a.suffix == ".json":
        ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
        keys = sorted(k for k in set(ja) | set(jb) if not TIMING.search(k))
        diff = [k for k in keys if ja.get(k) != jb.get(k)]
        return "same" if not diff else "differs: " + ", ".join(diff[:6])
    da, db = pd.read_csv(a), pd.read_csv(b)
    if list(da.columns) != list(db.columns):
        return f"columns differ: {list(da.columns)} vs {list(db.columns)}"
    if len(da) != len(db):
        return f"rows differ: {len(da)} vs {len(db)}"
    diff = []
    for col in da.columns:
        if TIMING.search(col):
            continue
        x, y = da[col], db[col]
        if x.equals(y):
            continue
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            d = (x - y).abs().max()
            diff.append(f"{col} (max abs diff {d:.3g})")
        else:
            diff.append(col)
    return "same" if not diff else "differs: " + ", ".join(diff[:6])


def group_of(rel: str) -> str:
    parts = rel.split("/")
    if parts[0] == "runs":
        return "evaluation" if "eval" in parts else "training"
    if parts[0] == "baselines":
        return "random baseline"
    return parts[0]  # tables, theory


def compare_runs(a: Path, b: Path, only: str | None = None) -> dict:
    files = [f for f in data_files(a) if only is None or f.startswith(only) or only in f]
    rows = [{"file": f, "group": group_of(f), "result": compare_file(a / f, b / f)} for f in files]
    extra = sorted(set(data_files(b)) - set(data_files(a)))
    summary = {}
    for r in rows:
        s = summary.setdefault(r["group"], {"files": 0, "same": 0})
        s["files"] += 1
        s["same"] += r["result"] == "same"
    return {"summary": summary, "files": rows, "only_in_second": extra}


def differing_runs(comparison: dict) -> list[str]:
    """Run folders (runs/{env}/{method}/{sharing}/seed{N}) whose training outputs differ."""
    return sorted(
        {
            "/".join(f["file"].split("/")[:5])
            for f in comparison["files"]
            if f["group"] == "training" and f["result"] != "same"
        }
    )


def repeat_locally(local: Path, runs: list[str], wd: Path) -> dict[str, str]:
    """Train each run again locally with its recorded spec: does the local run repeat itself?

    A run that differs between two local runs is not repeatable for its seed, so its
    difference from the image run says nothing about the image."""
    out = {}
    for run in runs:
        summary = json.loads((local / "results" / run / "train_summary.json").read_text())
        dest = wd / run
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(BIN / "psmarl"),
            "train",  # either backend: psmarl train picks it from the spec's method
            "--spec",
            json.dumps(summary["spec"]),
            "--run-dir",
            str(dest),
        ]
        if cluster.stage_of_method(run.split("/")[2]) != "marl":  # RLlib: its recorded CPUs
            cmd += ["--cores", str(summary["runtime"]["num_cpus"])]
        log(f"repeating {run} locally")
        r = subprocess.run(cmd, capture_output=True, text=True, env=workflow_env())
        if r.returncode != 0:
            out[run] = f"failed: {r.stderr[-500:]}"
            continue
        res = compare_file(local / "results" / run / "progress.csv", dest / "progress.csv")
        out[run] = "repeats" if res == "same" else f"does not repeat locally ({res})"
        log(f"{run}: {out[run]}")
    return out


def crosseval_folder(local: Path, wd: Path) -> list[str]:
    """A copy of the local run without its evaluations; returns the evaluation targets."""
    if wd.exists():
        shutil.rmtree(wd)
    shutil.copytree(
        local,
        wd,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".snakemake", "logs", "tables", "figures", "theory", "report"
        ),
    )
    targets = []
    for ev in sorted((wd / "results" / "runs").glob("*/*/*/*/eval")):
        shutil.rmtree(ev)
        rel = ev.relative_to(wd)
        targets += [str(rel / "episodes.csv"), str(rel / "summary.json")]
    return targets


def judge(rec: dict) -> list[str]:
    """What fails the proof: any cross-evaluation difference; any other image-vs-local
    difference, except in runs that do not repeat between two local runs either (their
    training, their evaluation, and the tables over them)."""
    bad = []
    x = rec["comparisons"].get("crosseval_vs_local")
    if x is not None:
        n = sum(f["result"] != "same" for f in x["files"])
        if n:
            bad.append(f"crosseval_vs_local: {n} of {len(x['files'])} files differ")
    c = rec["comparisons"].get("image_vs_local")
    if c is None:
        return bad
    unrepeatable = {
        r for r, v in rec.get("local_repeat", {}).items() if v.startswith("does not repeat")
    }
    for f in c["files"]:
        if f["result"] == "same":
            continue
        run = "/".join(f["file"].split("/")[:5])
        if run in unrepeatable or (f["group"] == "tables" and unrepeatable):
            continue
        bad.append(f"image_vs_local: {f['file']}: {f['result']}")
    if c["only_in_second"]:
        bad.append(f"image_vs_local: only in the image run: {c['only_in_second'][:5]}")
    return bad


# ---------------------------------------------------------------- report
def fmt_size(n) -> str:
    return "" if n is None else f"{n / 1e9:.2f} GB"


def markdown(rec: dict) -> str:
    L = [
        "# Stage images built and run (generated by scripts/prove_images.sh)",
        "",
        f"Date {rec['date']}; machine: {rec['machine']}; commit {rec['commit']}.",
        f"Command: `{rec['command']}`; total {rec['total_seconds'] / 60:.0f} min.",
        "",
        "## Images",
        "",
        "| stage | built | build time | image size | /opt/venv | largest packages (MB) "
        "| torch | CUDA build | check-images |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for stage, b in rec["images"].items():
        if not b.get("built"):
            L.append(f"| {stage} | **failed** | | | | | | | {b.get('error', '')[:200]} |")
            continue
        bt = "" if b["build_seconds"] is None else f"{b['build_seconds'] / 60:.1f} min"
        when = (
            (
                f"reused (built {b['built_on']})"
                if b.get("built_on")
                else "reused (built earlier, e.g. by the test suite; not timed)"
            )
            if b["cached"]
            else (b.get("built_on") or "")
        )
        largest = ", ".join(f"{k} {v}" for k, v in list(b.get("largest_mb", {}).items())[:4])
        L.append(
            f"| {stage} | {when} | {bt} | {fmt_size(b['size_bytes'])} | "
            f"{b.get('venv_mb')} MB | {largest} | {b.get('torch') or 'none'} | "
            f"{b.get('torch_cuda') or ''} | {rec['check_images'].get(stage, '')} |"
        )
    L += [
        "",
        "Image tags: "
        + ", ".join(f"{s} `{b['tag']}`" for s, b in rec["images"].items() if b.get("built")),
        "",
    ]
    g = rec.get("gpu_without_gpu")
    if g:
        L += [
            "GPU checks inside the images on this machine (no GPU: each must say so; "
            "`psmarl check-images --runner apptainer --gpu` runs them on a GPU node):",
            "",
        ]
        L += [f"- {k}: {v}" for k, v in g["checks"].items()]
        L += [f"- PROBLEM: {p_}" for p_ in g["problems"]]
        L.append("")
    L += ["## Workflow runs", "", "| run | exit | time | jobs |", "|---|---|---|---|"]
    for name, r in rec["runs"].items():
        jobs = ", ".join(f"{k} {v}" for k, v in r["jobs"].items())
        L.append(f"| {name} | {r['returncode']} | {r['seconds'] / 60:.1f} min | {jobs} |")
    t = rec.get("trace", {})
    if t:
        L += [
            "",
            f"Inside the containers ({t['calls']} calls traced by the apptainer stand-in): "
            + "; ".join(
                f"{s}: " + ", ".join(f"{k} x{v}" for k, v in c.items())
                for s, c in t["per_stage"].items()
            )
            + f". Pythons seen: {', '.join(f'`{p}`' for p in t['pythons'])} "
            f"(host: `{t['host_python']}`). Problems: {len(t['problems'])}.",
        ]
        L += [f"- {p}" for p in t["problems"][:20]]
    for key, title in (
        ("image_vs_local", "Image run vs local run (same config, same seeds)"),
        ("crosseval_vs_local", "Local checkpoints evaluated in the images vs evaluated locally"),
    ):
        c = rec.get("comparisons", {}).get(key)
        if not c:
            continue
        L += ["", f"## {title}", "", "| outputs | files | identical |", "|---|---|---|"]
        for g, s in c["summary"].items():
            L.append(f"| {g} | {s['files']} | {s['same']} |")
        bad = [f for f in c["files"] if f["result"] != "same"]
        if bad:
            L += ["", "Differences (timing columns are never compared):", ""]
            L += [f"- `{f['file']}`: {f['result']}" for f in bad[:40]]
    if rec.get("local_repeat"):
        L += [
            "",
            "Runs whose training differs between the image and the local run, trained "
            "once more locally with the same spec (a run that does not repeat locally says "
            "nothing about the image; its evaluation and the tables over it differ too):",
            "",
        ]
        L += [f"- `{r}`: {v}" for r, v in rec["local_repeat"].items()]
    L += ["", f"Verdict: {rec['verdict']}", ""]
    return "\n".join(L)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp/psmarl-prove"))
    ap.add_argument(
        "--record",
        type=Path,
        default=REPO / "docs" / "data" / "prove_images",
        help="write <record>.json and <record>.md (default docs/data/prove_images)",
    )
    ap.add_argument("--build-timeout", type=float, default=4 * 3600, help="seconds per image build")
    a = ap.parse_args()
    t0 = time.monotonic()
    wd = a.workdir.resolve()
    wd.mkdir(parents=True, exist_ok=True)
    rec: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "commit": commit(),
        "command": "scripts/prove_images.sh " + " ".join(map(shlex.quote, sys.argv[1:])),
        "configs": [str(c.relative_to(REPO)) for c in CONFIGS],
    }
    verdict = []

    rec["images"] = build_images(list(cluster.STAGES), wd, a.build_timeout)
    tags = {s: b["tag"] for s, b in rec["images"].items() if b.get("built")}
    rec["check_images"] = check_images(tags, wd) if tags else {}
    if set(tags) != set(cluster.STAGES):
        verdict.append(
            "images failed to build: " + ", ".join(s for s in cluster.STAGES if s not in tags)
        )
    verdict += [
        f"check-images {s} failed" for s, v in rec["check_images"].items() if v.startswith("FAILED")
    ]
    if {"rl", "marl"} <= set(tags):
        rec["gpu_without_gpu"] = gpu_path_without_gpu(tags)
        verdict += rec["gpu_without_gpu"]["problems"]
    rec["runs"], rec["comparisons"] = {}, {}
    if not verdict:
        local, image, cross = wd / "local", wd / "image", wd / "crosseval"
        for d in (local, image):
            if d.exists():
                shutil.rmtree(d)
            d.mkdir()
        rec["runs"]["local"] = snakemake(
            local, configs=CONFIGS, env=workflow_env(), logfile=wd / "local.log"
        )
        overlay = image_files(tags, wd / "images")
        trace = wd / "apptainer-trace.jsonl"
        trace.unlink(missing_ok=True)
        in_images = workflow_env(
            PSMARL_APPTAINER_LOG=str(trace),
            PATH=f"{STANDIN_BIN}{os.pathsep}{workflow_env()['PATH']}",
        )
        rec["runs"]["image"] = snakemake(
            image,
            "--sdm",
            "apptainer",
            configs=[*CONFIGS, overlay],
            env=in_images,
            logfile=wd / "image.log",
        )
        rec["trace"] = check_trace(trace, tags)
        if rec["runs"]["local"]["returncode"] == 0:
            targets = crosseval_folder(local, cross)
            trace_x = wd / "apptainer-trace-crosseval.jsonl"
            trace_x.unlink(missing_ok=True)
            rec["runs"]["crosseval"] = snakemake(  # targets first: --sdm takes several values
                cross,
                *targets,
                "--sdm",
                "apptainer",
                configs=[*CONFIGS, overlay],
                env={**in_images, "PSMARL_APPTAINER_LOG": str(trace_x)},
                logfile=wd / "crosseval.log",
            )
            tx = check_trace(trace_x, tags)
            rec["trace"]["calls"] += tx["calls"]
            rec["trace"]["problems"] += tx["problems"]
            for s, c in tx["per_stage"].items():
                for k, v in c.items():
                    rec["trace"]["per_stage"].setdefault(s, {})
                    rec["trace"]["per_stage"][s][k] = rec["trace"]["per_stage"][s].get(k, 0) + v
            rec["comparisons"]["crosseval_vs_local"] = compare_runs(
                local / "results", cross / "results", only="/eval/"
            )
        c = compare_runs(local / "results", image / "results")
        rec["comparisons"]["image_vs_local"] = c
        rec["local_repeat"] = repeat_locally(local, differing_runs(c), wd / "repeat")
        for name, r in rec["runs"].items():
            if r["returncode"] != 0:
                verdict.append(f"{name} run failed (exit {r['returncode']}; {wd / name}.log)")
        if rec["trace"]["problems"] or not rec["trace"]["calls"]:
            verdict.append("container calls not in their stage's image (see trace)")
        verdict += judge(rec)
    rec["verdict"] = "PASS" if not verdict else "FAIL: " + "; ".join(verdict)
    rec["total_seconds"] = round(time.monotonic() - t0)
    a.record.parent.mkdir(parents=True, exist_ok=True)
    a.record.with_suffix(".json").write_text(json.dumps(rec, indent=1) + "\n")
    a.record.with_suffix(".md").write_text(markdown(rec))
    log(f"{rec['verdict']}; wrote {a.record.with_suffix('.json')} and .md")
    return 0 if not verdict else 1


if __name__ == "__main__":
    sys.exit(main())
