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
REMOTE_PREFIXES = ("docker://", "docker-daemon://", "oras://", "library://", "shub://",
                   "http://", "https://")
# what each stage's jobs import: an image lacking one of these cannot run the stage
STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "rl": ("torch", "ray.rllib", "pettingzoo", "supersuit", "pandas", "psmarl.train",
           "psmarl.evaluate"),
    "marl": ("torch", "benchmarl", "torchrl", "pettingzoo", "pandas", "psmarl.marl.train",
             "psmarl.evaluate"),
    "analysis": ("pandas", "matplotlib", "seaborn", "scipy", "rliable", "psmarl.aggregate",
                 "psmarl.figures", "psmarl.stats", "psmarl.mailp"),
}


# ---------------------------------------------------------------- images in the config
def image(config: Mapping[str, Any], stage: str) -> str | None:
    """The image of a stage (None: run that stage outside any container)."""
    if stage not in STAGES:
        raise ConfigError(f"unknown container stage {stage!r}; stages are {list(STAGES)}",
                          key="containers")
    value = setting(config, f"containers.{stage}")
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ConfigError(f"expected an image path or URI, got {value!r}",
                          key=f"containers.{stage}")
    return value


def stage_of_method(method: str) -> str:
    """BenchMARL's methods (MADDPG, QMIX: the `marl_train` rule) run in the marl image."""
    from psmarl.config import marl_methods

    return "marl" if method in marl_methods() else "rl"


def image_for_method(config: Mapping[str, Any], method: str) -> str | None:
    return image(config, stage_of_method(method))


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_PREFIXES)


def check_image_files(config: Mapping[str, Any], workdir: Path | str = ".",
                      stages: Iterable[str] = STAGES) -> None:
    """Every configured local image file exists (remote URIs are Apptainer's to pull)."""
    for stage in stages:
        uri = image(config, stage)
        if uri is None or is_remote(uri):
            continue
        path = Path(workdir, uri)
        if not path.is_file():
            raise InputError(f"containers.{stage}: image file {path} does not exist (build it "
                             f"with `apptainer build {uri} containers/{stage}.def`, or point "
                             f"containers.{stage} at your image)")


def used_stages(jobs: Iterable[Sequence[str]]) -> list[str]:
    """The stages a workflow's jobs run in (training jobs are (env, method, sharing, seed))."""
    used = {"rl", "analysis"} | {stage_of_method(j[1]) for j in jobs}
    return [s for s in STAGES if s in used]


def check_workflow_images(workflow: Any, config: Mapping[str, Any],
                          jobs: Iterable[Sequence[str]]) -> None:
    """From the Snakefile: under ``--sdm apptainer``, every image the jobs need exists.

    Without this, a missing .sif surfaces as Apptainer's error inside the first job, on a
    compute node, after queueing.
    """
    from snakemake_interface_executor_plugins.settings import DeploymentMethod

    if DeploymentMethod.APPTAINER in workflow.deployment_settings.deployment_method:
        check_image_files(config, ".", used_stages(jobs))


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


def probe_image(run_prefix: Sequence[str], stage: str, python: str = "python3",
                timeout: float = 300) -> dict[str, Any]:
    """Import the stage's modules inside an image.

    ``run_prefix`` is how to run a command in the image, e.g. ``["apptainer", "exec",
    "img.sif"]`` or ``["podman", "run", "--rm", "img"]``. Returns the image's Python
    (executable, prefix); raises InputError naming the missing modules.
    """
    code = PROBE.format(modules=list(STAGE_MODULES[stage]))
    cmd = [*run_prefix, python, "-c", code]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise InputError(f"cannot run {cmd[0]!r} to inspect the {stage} image: {e}") from None
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        raise InputError(f"the {stage} image did not run its Python ({' '.join(run_prefix)}): "
                         f"exit {r.returncode}: {r.stderr.strip()[-800:]}")
    info = json.loads(lines[-1])
    if info["missing"]:
        raise InputError(f"the {stage} image ({' '.join(run_prefix)}) lacks packages of its "
                         f"stage: {'; '.join(info['missing'])}")
    return info


# ---------------------------------------------------------------- the Slurm profile
# Resources snakemake-executor-plugin-slurm 2.8.0 (and Snakemake itself) read: any other
# key in a profile is passed along and silently ignored.
SLURM_RESOURCES = frozenset({
    "runtime", "mem_mb", "mem_mb_per_cpu", "mem", "mem_gb", "disk_mb", "disk", "tmpdir",
    "cpus_per_task", "cpus_per_gpu", "threads", "gpu", "gpu_model", "gres", "tasks",
    "tasks_per_node", "tasks_per_gpu", "nodes", "mpi", "constraint", "qos",
    "slurm_partition", "slurm_account", "slurm_extra", "slurm_cluster", "cluster",
    "clusters", "_cores", "_nodes",
})
# what was probably meant
MISSPELLED = {
    "gpus": "gpu", "num_gpus": "gpu", "gpu_type": "gpu_model", "gpu_models": "gpu_model",
    "time": "runtime", "time_min": "runtime", "walltime": "runtime", "runtime_min": "runtime",
    "partition": "slurm_partition", "account": "slurm_account", "cpus": "cpus_per_task",
    "ncpus": "cpus_per_task", "cpus_per_tasks": "cpus_per_task", "mem_mib": "mem_mb",
    "memory": "mem_mb", "extra": "slurm_extra",
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
            problems.append(f"{path}: {where}: resource {key!r} is not read by "
                            f"snakemake-executor-plugin-slurm, so Slurm would never see it{hint}")

    bad_keys(_resource_map(data.get("default-resources"), "default-resources"),
             "default-resources")
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
                    problems.append(f"{path}: {section}.{rule}: no such rule "
                                    f"(rules: {', '.join(sorted(rules))})")
    if data.get("executor") not in (None, "slurm"):
        problems.append(f"{path}: executor is {data.get('executor')!r}, not 'slurm'")
    sdm = data.get("software-deployment-method") or data.get("sdm") or []
    sdm = [sdm] if isinstance(sdm, str) else list(sdm)
    gpu_rules = [r for r, res in set_res.items() if res.get("gpu") or "gpu" in str(res.get("gres", ""))]
    if "apptainer" in sdm and gpu_rules and "--nv" not in str(data.get("apptainer-args", "")):
        problems.append(f"{path}: rules {gpu_rules} ask for GPUs but apptainer-args lacks "
                        "'--nv', so the containers would not see them")
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
    if a.runner != "podman":  # with podman, the values are podman image names
        check_image_files(data, a.workdir, stages)
    for stage in stages:
        uri = image(data, stage)
        if uri is None:
            raise ConfigError("no image configured", key=f"containers.{stage}")
        if a.runner == "apptainer":
            prefix = ["apptainer", "exec", uri]
        elif a.runner == "podman":
            prefix = ["podman", "run", "--rm", uri]
        else:
            print(f"{stage}: {uri} (files only; --runner inspects the packages)")
            continue
        info = probe_image(prefix, stage)
        print(f"{stage}: {uri} OK (python {info['executable']})")


def add_cli(add: Callable) -> None:
    sp = add("check-profile", _cmd_check_profile,
             "check a Slurm profile for resource keys the plugin ignores and unknown rules")
    sp.add_argument("profile", nargs="?", default="profiles/slurm",
                    help="profile folder or its config.yaml")
    sp.add_argument("--repo", default=".", help="workflow folder (its rules are checked)")
    sp = add("check-images", _cmd_check_images,
             "check the configured container images: files exist, stage packages import")
    sp.add_argument("--configfile", help="config with a `containers:` key")
    sp.add_argument("--stage", action="append", choices=STAGES,
                    help="check only this stage (repeatable)")
    sp.add_argument("--runner", choices=["apptainer", "podman"],
                    help="run each image's Python to check its packages (podman: the "
                         "containers.* values are podman image names)")
    sp.add_argument("--workdir", default=".", help="relative image paths start here")
