"""Running on a cluster: per-stage container images and the Slurm profile's checks.

Every workflow stage runs in one of three images (``containers/<stage>.def``):

- ``rl``: RLlib training and evaluation (torch 2.13.0, CUDA build), the random baseline;
- ``marl``: the BenchMARL methods (MADDPG, QMIX; ``marl`` extra): their training and
  evaluation;
- ``analysis``: aggregate, statistics, figures, theory, the config record (pandas,
  matplotlib, seaborn, rliable; no torch).

``config["containers"][stage]`` names each image: a local ``.sif`` path or a URI Apptainer
pulls (``docker://...@sha256:...``, ``oras://...``, ``library://...``). Rules name their
stage's image through :func:`image` (``container:``); Snakemake uses it only under
``--sdm apptainer``.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from psmarl.defaults import get as setting
from psmarl.errors import ConfigError, InputError

STAGES = ("rl", "marl", "analysis")
REMOTE_PREFIXES = (
    "docker://",
    "docker-daemon://",
    "oras://",
    "library://",
    "shub://",
    "http://",
    "https://",
)
# what each stage's jobs import: an image lacking one of these cannot run the stage
STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "rl": (
        "torch",
        "ray.rllib",
        "pettingzoo",
        "supersuit",
        "pandas",
        "psmarl.train",
        "psmarl.evaluate",
    ),
    "marl": (
        "torch",
        "benchmarl",
        "torchrl",
        "pettingzoo",
        "pandas",
        "psmarl.benchmarl_backend.train",
        "psmarl.evaluate",
    ),
    "analysis": (
        "pandas",
        "matplotlib",
        "seaborn",
        "scipy",
        "rliable",
        "psmarl.aggregate",
        "psmarl.figures",
        "psmarl.stats",
        "psmarl.theory",
    ),
}


# ---------------------------------------------------------------- images in the config
def image(config: Mapping[str, Any], stage: str) -> str | None:
    """The image of a stage (None: run that stage outside any container)."""
    if stage not in STAGES:
        raise ConfigError(
            f"unknown container stage {stage!r}; stages are {list(STAGES)}", key="containers"
        )
    value = setting(config, f"containers.{stage}")
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ConfigError(
            f"expected an image path or URI, got {value!r}", key=f"containers.{stage}"
        )
    return value


def stage_of_method(method: str) -> str:
    """BenchMARL's methods (MADDPG, QMIX: backend ``benchmarl`` in the method catalogue) run
    in the marl image."""
    from psmarl import methods

    return "marl" if methods.backend(method) == "benchmarl" else "rl"


def image_for_method(config: Mapping[str, Any], method: str) -> str | None:
    return image(config, stage_of_method(method))


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_PREFIXES)


def check_image_files(
    config: Mapping[str, Any], workdir: Path | str = ".", stages: Iterable[str] = STAGES
) -> None:
    """Every configured local image file exists (remote URIs are Apptainer's to pull)."""
    for stage in stages:
        uri = image(config, stage)
        if uri is None or is_remote(uri):
            continue
        path = Path(workdir, uri)
        if not path.is_file():
            raise InputError(
                f"containers.{stage}: image file {path} does not exist (build it "
                f"with `apptainer build {uri} containers/{stage}.def`, or point "
                f"containers.{stage} at your image)"
            )


def used_stages(jobs: Iterable[Sequence[str]]) -> list[str]:
    """The stages a workflow's jobs run in (training jobs are (env, method, sharing, seed))."""
    used = {"rl", "analysis"} | {stage_of_method(j[1]) for j in jobs}
    return [s for s in STAGES if s in used]


def check_workflow_images(
    workflow: Any, config: Mapping[str, Any], jobs: Iterable[Sequence[str]]
) -> None:
    """From the Snakefile: under ``--sdm apptainer``, every image the jobs need exists.

    Without this, a missing .sif surfaces as Apptainer's error inside the first job, on a
    compute node, after queueing.
    """
    from snakemake_interface_executor_plugins.settings import DeploymentMethod

    if DeploymentMethod.APPTAINER in workflow.deployment_settings.deployment_method:
        check_image_files(config, ".", used_stages(jobs))


def _run_json(cmd: Sequence[str], what: str, timeout: float) -> dict[str, Any]:
    """Run a command that prints one JSON line last; its parsed object."""
    try:
        r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise InputError(f"cannot run {cmd[0]!r} for {what}: {e}") from None
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        raise InputError(f"{what} failed (exit {r.returncode}): {r.stderr.strip()[-1500:]}")
    return json.loads(lines[-1])


PROBE = """\
import importlib, json, sys
missing = []
for m in {modules!r}:
    try:
        importlib.import_module(m)
    except Exception as e:
        missing.append(m + " (" + type(e).__name__ + ": " + str(e)[:200] + ")")
print(json.dumps({{"executable": sys.executable, "prefix": sys.prefix, "missing": missing}}))
"""


def probe_image(
    run_prefix: Sequence[str], stage: str, python: str = "python3", timeout: float = 300
) -> dict[str, Any]:
    """Import the stage's modules inside an image.

    ``run_prefix`` is how to run a command in the image, e.g. ``["apptainer", "exec",
    "img.sif"]`` or ``["podman", "run", "--rm", "img"]``. Returns the image's Python
    (executable, prefix); raises InputError naming the missing modules.
    """
    code = PROBE.format(modules=list(STAGE_MODULES[stage]))
    info = _run_json(
        [*run_prefix, python, "-c", code],
        f"running the {stage} image's Python ({' '.join(run_prefix)})",
        timeout,
    )
    if info["missing"]:
        raise InputError(
            f"the {stage} image ({' '.join(run_prefix)}) lacks packages of its "
            f"stage: {'; '.join(info['missing'])}"
        )
    return info


# ---------------------------------------------------------------- GPU nodes
# The rl and marl images carry PyPI's torch 2.13.0 for Linux: the CUDA 13.0 build, whose
# kernels are compiled for compute capability 7.5 and newer (Turing, Ampere, Hopper,
# Blackwell: `torch.cuda.get_arch_list()`); CUDA 13 needs an NVIDIA driver >= 580 on the
# host (NVIDIA's CUDA minor-version compatibility table). Only the driver comes from the
# host, through `apptainer exec --nv`.
GPU_STAGES = ("rl", "marl")
GPU_HINT = (
    "run the check on a GPU node (e.g. `srun --gpus=1 ...`) with the GPU passed into "
    "the container (`--runner apptainer --gpu` adds `--nv`); the image's CUDA 13.0 "
    "torch needs an NVIDIA driver >= 580 and a GPU of compute capability 7.5 or newer"
)
GPU_PROBE = """\
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import torch
    available = torch.cuda.is_available()
d = {"torch": torch.__version__, "cuda": torch.version.cuda, "available": available,
     "warnings": [str(w.message)[:300] for w in caught]}
if available:
    try:
        d["device"] = torch.cuda.get_device_name(0)
        d["capability"] = "sm_%d%d" % torch.cuda.get_device_capability(0)
        d["archs"] = torch.cuda.get_arch_list()
        x = torch.ones(64, 64, device="cuda")
        d["matmul"] = float((x @ x)[0, 0].cpu())
    except Exception as e:
        d["error"] = type(e).__name__ + ": " + str(e)[:300]
print(json.dumps(d))
"""


def probe_gpu(run_prefix: Sequence[str], stage: str, timeout: float = 300) -> dict[str, Any]:
    """Inside an image: torch sees a GPU and computes on it. ``run_prefix`` must pass the GPU
    in (``apptainer exec --nv IMAGE``). Returns torch's version, CUDA build and the device;
    raises InputError saying why not."""
    d = _run_json(
        [*run_prefix, "python3", "-c", GPU_PROBE],
        f"the GPU probe of the {stage} image ({' '.join(run_prefix)})",
        timeout,
    )
    if not d["available"]:
        why = "; ".join(d["warnings"]) or "torch.cuda.is_available() is False"
        raise InputError(
            f"the {stage} image's torch {d['torch']} (CUDA {d['cuda']}) sees no "
            f"GPU ({why}): {GPU_HINT}"
        )
    if "error" in d:
        raise InputError(
            f"the {stage} image's torch {d['torch']} sees {d.get('device')} "
            f"({d.get('capability')}) but cannot compute on it: {d['error']} "
            f"(its kernels: {', '.join(d.get('archs') or [])})"
        )
    return d


# One PPO iteration on a short multiwalker, the learner on the GPU (training.runtime.num_gpus)
GPU_TRAIN_CONFIG: dict[str, Any] = {
    "seeds": [0],
    "sharing": ["shared"],
    "envs": {"multiwalker": {"preset": "paper", "kwargs": {"max_cycles": 25}}},
    "methods": {
        "ppo": {
            "training": {
                "train_batch_size_per_learner": 100,
                "minibatch_size": 50,
                "num_epochs": 1,
            },
            "model": {"fcnet_hiddens": [16, 16]},
        }
    },
    "training": {
        "budget": {"iterations": 1},
        "checkpoint_every": 1,
        "runtime": {
            "num_cpus": 1,
            "num_env_runners": 0,
            "num_envs_per_env_runner": 1,
            "num_gpus": 1,
        },
    },
}
TRAIN_IN_TMP = (
    'd=$(mktemp -d) && psmarl train --spec "$1" --run-dir "$d/run" --cores 1 '
    '>&2; rc=$?; [ $rc = 0 ] && python3 -c "import json, sys; '
    'print(json.dumps(json.load(open(sys.argv[1]))))" "$d/run/train_summary.json"; '
    'rm -rf "$d"; exit $rc'
)


def gpu_training_run(
    run_prefix: Sequence[str], num_gpus: int = 1, timeout: float = 900
) -> dict[str, Any]:
    """Inside the rl image: `psmarl train` one PPO iteration with ``num_gpus`` GPUs for the
    learner, in a temporary folder. Returns its train summary; raises InputError unless the
    learner ran on the device asked for (cuda with num_gpus > 0, else cpu)."""
    from psmarl import config as cfg

    conf = json.loads(json.dumps(GPU_TRAIN_CONFIG))
    conf["training"]["runtime"]["num_gpus"] = num_gpus
    spec = cfg.train_spec(conf, "multiwalker", "ppo", "shared", 0)
    try:
        s = _run_json(
            [*run_prefix, "sh", "-c", TRAIN_IN_TMP, "sh", json.dumps(spec)],
            f"one PPO iteration with num_gpus {num_gpus} in the rl image ({' '.join(run_prefix)})",
            timeout,
        )
    except InputError as e:
        raise InputError(f"{e}\n({GPU_HINT})" if num_gpus else str(e)) from None
    want = "cuda" if num_gpus > 0 else "cpu"
    if not str(s.get("learner_device", "")).startswith(want):
        raise InputError(
            f"the rl image trained with the learner on {s.get('learner_device')}, not {want}"
        )
    return s


# ---------------------------------------------------------------- the Slurm profile
# Resources snakemake-executor-plugin-slurm 2.8.0 (and Snakemake itself) read: any other
# key in a profile is passed along and silently ignored.
SLURM_RESOURCES = frozenset(
    {
        "runtime",
        "mem_mb",
        "mem_mb_per_cpu",
        "mem",
        "mem_gb",
        "disk_mb",
        "disk",
        "tmpdir",
        "cpus_per_task",
        "cpus_per_gpu",
        "threads",
        "gpu",
        "gpu_model",
        "gres",
        "tasks",
        "tasks_per_node",
        "tasks_per_gpu",
        "nodes",
        "mpi",
        "constraint",
        "qos",
        "slurm_partition",
        "slurm_account",
        "slurm_extra",
        "slurm_cluster",
        "cluster",
        "clusters",
        "_cores",
        "_nodes",
    }
)
# what was probably meant
MISSPELLED = {
    "gpus": "gpu",
    "num_gpus": "gpu",
    "gpu_type": "gpu_model",
    "gpu_models": "gpu_model",
    "time": "runtime",
    "time_min": "runtime",
    "walltime": "runtime",
    "runtime_min": "runtime",
    "partition": "slurm_partition",
    "account": "slurm_account",
    "cpus": "cpus_per_task",
    "ncpus": "cpus_per_task",
    "cpus_per_tasks": "cpus_per_task",
    "mem_mib": "mem_mb",
    "memory": "mem_mb",
    "extra": "slurm_extra",
}


def _resource_map(value: Any, where: str) -> dict[str, Any]:
    """A profile's resources as a mapping (profiles allow a mapping or ['k=v', ...])."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list):
        out = {}
        for item in value:
            k, sep, v = str(item).partition("=")
            if not sep:
                raise InputError(f"{where}: {item!r} is not KEY=VALUE")
            out[k.strip()] = v.strip()
        return out
    raise InputError(f"{where}: expected a mapping of resources, got {value!r}")


def _set_resources(value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {rule: _resource_map(res, f"set-resources.{rule}") for rule, res in value.items()}
    out: dict[str, dict[str, Any]] = {}
    for item in value:  # ['rule:key=value', ...]
        rule, sep, kv = str(item).partition(":")
        if not sep:
            raise InputError(f"set-resources: {item!r} is not RULE:KEY=VALUE")
        out.setdefault(rule, {}).update(_resource_map([kv], f"set-resources.{rule}"))
    return out


def workflow_rules(repo: Path | str) -> set[str]:
    """Names of the rules in workflow/Snakefile and workflow/rules/*.smk."""
    repo = Path(repo)
    names: set[str] = set()
    wf = repo / "workflow"
    for f in [wf / "Snakefile", *sorted((wf / "rules").glob("*.smk"))]:
        if f.exists():
            names.update(re.findall(r"^(?:local)?rule\s+(\w+)\s*:", f.read_text(), re.MULTILINE))
    return names


def check_profile(profile: Path | str, rules: set[str] | None = None) -> list[str]:
    """Problems in a Slurm profile (its config.yaml): keys the plugin ignores, unknown rules."""
    profile = Path(profile)
    path = profile / "config.yaml" if profile.is_dir() else profile
    if not path.is_file():
        raise InputError(f"profile {path} not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: expected a mapping of Snakemake options")
    problems: list[str] = []

    def bad_keys(res: Mapping[str, Any], where: str) -> None:
        for key in res:
            if key in SLURM_RESOURCES:
                continue
            hint = f"; did you mean {MISSPELLED[key]!r}?" if key in MISSPELLED else ""
            problems.append(
                f"{path}: {where}: resource {key!r} is not read by "
                f"snakemake-executor-plugin-slurm, so Slurm would never see it{hint}"
            )

    bad_keys(_resource_map(data.get("default-resources"), "default-resources"), "default-resources")
    set_res = _set_resources(data.get("set-resources"))
    for rule, res in set_res.items():
        bad_keys(res, f"set-resources.{rule}")
    threads = data.get("set-threads") or {}
    if isinstance(threads, list):
        threads = dict(str(t).split("=", 1) for t in threads)
    if rules is not None:
        for section, names in (("set-resources", set_res), ("set-threads", threads)):
            for rule in names:
                if rule not in rules:
                    problems.append(
                        f"{path}: {section}.{rule}: no such rule "
                        f"(rules: {', '.join(sorted(rules))})"
                    )
    if data.get("executor") not in (None, "slurm"):
        problems.append(f"{path}: executor is {data.get('executor')!r}, not 'slurm'")
    sdm = data.get("software-deployment-method") or data.get("sdm") or []
    sdm = [sdm] if isinstance(sdm, str) else list(sdm)
    gpu_rules = [
        r for r, res in set_res.items() if res.get("gpu") or "gpu" in str(res.get("gres", ""))
    ]
    if "apptainer" in sdm and gpu_rules and "--nv" not in str(data.get("apptainer-args", "")):
        problems.append(
            f"{path}: rules {gpu_rules} ask for GPUs but apptainer-args lacks "
            "'--nv', so the containers would not see them"
        )
    return problems


# ---------------------------------------------------------------- CLI
def _cmd_check_profile(a) -> None:
    repo = Path(a.repo)
    problems = check_profile(a.profile, workflow_rules(repo))
    if problems:
        raise InputError("\n".join(problems))
    print(f"profile {a.profile} OK")


def _cmd_check_images(a) -> None:
    from psmarl import config as cfg

    data = cfg.load(a.configfile) if a.configfile else {}
    stages = a.stage or [s for s in STAGES if image(data, s)]
    if a.gpu and not a.runner:
        raise InputError("--gpu needs --runner (apptainer on a cluster)")
    if a.runner != "podman":  # with podman, the values are podman image names
        check_image_files(data, a.workdir, stages)
    for stage in stages:
        uri = image(data, stage)
        if uri is None:
            raise ConfigError("no image configured", key=f"containers.{stage}")
        gpu = a.gpu and stage in GPU_STAGES
        if a.runner == "apptainer":
            prefix = ["apptainer", "exec", *(["--nv"] if gpu else []), uri]
        elif a.runner == "podman":  # GPUs through the NVIDIA container toolkit's CDI names
            prefix = [
                "podman",
                "run",
                "--rm",
                *(["--device", "nvidia.com/gpu=all"] if gpu else []),
                uri,
            ]
        else:
            print(f"{stage}: {uri} (files only; --runner inspects the packages)")
            continue
        info = probe_image(prefix, stage)
        print(f"{stage}: {uri} OK (python {info['executable']})", flush=True)
        if gpu:
            d = probe_gpu(prefix, stage)
            print(
                f"{stage}: torch {d['torch']} (CUDA {d['cuda']}) computes on {d['device']} "
                f"({d['capability']})",
                flush=True,
            )
            if stage == "rl":
                s = gpu_training_run(prefix)
                print(
                    f"rl: one PPO iteration with training.runtime.num_gpus 1: learner on "
                    f"{s['learner_device']}, {s['env_steps']} env steps",
                    flush=True,
                )
        elif a.gpu:
            print(f"{stage}: no GPU check (this stage runs on CPUs)")


def add_cli(add: Callable) -> None:
    sp = add(
        "check-profile",
        _cmd_check_profile,
        "check a Slurm profile for resource keys the plugin ignores and unknown rules",
    )
    sp.add_argument(
        "profile", nargs="?", default="profiles/slurm", help="profile folder or its config.yaml"
    )
    sp.add_argument("--repo", default=".", help="workflow folder (its rules are checked)")
    sp = add(
        "check-images",
        _cmd_check_images,
        "check the configured container images: files exist, stage packages import",
    )
    sp.add_argument("--configfile", help="config with a `containers:` key")
    sp.add_argument(
        "--stage", action="append", choices=STAGES, help="check only this stage (repeatable)"
    )
    sp.add_argument(
        "--runner",
        choices=["apptainer", "podman"],
        help="run each image's Python to check its packages (podman: the "
        "containers.* values are podman image names)",
    )
    sp.add_argument("--workdir", default=".", help="relative image paths start here")
    sp.add_argument(
        "--gpu",
        action="store_true",
        help="on a GPU node: also check that torch in the rl and marl images "
        "computes on the GPU (apptainer --nv) and train one PPO iteration "
        "with the learner on it (training.runtime.num_gpus: 1)",
    )
