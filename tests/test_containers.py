"""containers/: the recipes (fast), the `containers:` config key and its bad input (fast), and
the analysis image built from its recipe with podman running that stage of the tiny
workflow under `snakemake --sdm apptainer` (slow; tests/cluster/)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from clusterlib import (
    ENV,
    SCRIPTS,
    STANDIN_BIN,
    assert_same_outputs,
    copy_run,
    local_reference_run,
    run_script,
    snakemake,
    workflow_env,
    write_config,
)
from conftest import REPO

from psmarl import cluster, locks
from psmarl.errors import ConfigError, InputError

DIGEST = re.compile(r"^python:3\.11[\w.-]*-slim-bookworm@sha256:[0-9a-f]{64}$")


def recipe(stage):
    from spython.main.parse.parsers import SingularityParser

    parsed = SingularityParser(str(REPO / "containers" / f"{stage}.def")).recipe
    assert len(parsed) == 1, (
        f"spython read build stages {list(parsed)} (a comment or %help "
        "line it mistook for a header?)"
    )
    return next(iter(parsed.values()))


# ---------------------------------------------------------------- fast: recipes
@pytest.mark.parametrize("stage", cluster.STAGES)
def test_recipe_installs_its_locked_requirements_on_a_digest_pinned_base(stage):
    r = recipe(stage)
    assert DIGEST.match(r.fromHeader), r.fromHeader
    text = (REPO / "containers" / f"{stage}.def").read_text()
    assert "Bootstrap: docker" in text
    # the digest's source is cited next to it
    assert "nalabelle/build" in text and "5fd581d256ce67bbab81b6ebe8ca0261f4bfed88" in text
    files = dict(f.split() for f in r.files)
    assert files[f"envs/{stage}.txt"] == f"/opt/psmarl/envs/{stage}.txt"
    post = "\n".join(r.install)
    assert "--require-hashes" in post and f"-r /opt/psmarl/envs/{stage}.txt" in post
    assert "--no-deps" in post  # psmarl itself adds nothing beyond the lock
    assert any(e.startswith("PATH=/opt/venv/bin:") for e in r.environ)
    for mod in cluster.STAGE_MODULES[stage]:
        assert mod.split(".")[0] in post or mod.startswith("psmarl"), (stage, mod)


def test_recipes_share_one_base():
    assert len({recipe(s).fromHeader for s in cluster.STAGES}) == 1


def test_gpu_stages_install_the_cuda_build_of_the_pinned_torch():
    for stage in ("rl", "marl"):
        _, pins, _ = locks.read_lock(REPO / "envs" / f"{stage}.txt")
        assert pins["torch"] == "2.13.0"  # PyPI's Linux wheel: the CUDA build
        assert {"nvidia-cuda-runtime", "nvidia-cudnn-cu13"} <= set(pins), stage


# ---------------------------------------------------------------- fast: config and rules
def test_every_rule_names_its_stage_image_from_the_config():
    want = {
        "train": "image_for_method(config, w.method)",
        "evaluate": "image_for_method(config, w.method)",
        "evaluate_sampled": "image_for_method(config, w.method)",
        "random_baseline": 'image(config, "rl")',
        "idle_baseline": 'image(config, "rl")',
        "aggregate": 'image(config, "analysis")',
        "marl_eval_export": 'image(config, "analysis")',
        "learning_curve": 'image(config, "analysis")',
        "theory": 'image(config, "analysis")',
        "statistics": 'image(config, "analysis")',
        "config_record": 'image(config, "analysis")',
        "paper_figure": 'image(config, "analysis")',
        "sharing_summary": 'image(config, "analysis")',
    }
    found = {}
    for f in (REPO / "workflow" / "rules").glob("*.smk"):
        for m in re.finditer(
            r"^rule (\w+):\n(.*?)(?=^rule |\Z)", f.read_text(), re.MULTILINE | re.DOTALL
        ):
            c = re.search(r"^    container:\n\s+(.*)$", m.group(2), re.MULTILINE)
            found[m.group(1)] = c.group(1) if c else None
    assert set(found) == set(want)
    for rule, expr in want.items():
        assert found[rule] and found[rule].endswith(expr), (rule, found[rule])


def test_stage_images_from_the_config():
    cfg = {
        "containers": {
            "rl": "docker://reg/rl@sha256:" + "a" * 64,
            "marl": "m.sif",
            "analysis": None,
        }
    }
    assert cluster.image_for_method(cfg, "ppo") == cfg["containers"]["rl"]
    assert cluster.image_for_method(cfg, "maddpg") == "m.sif"
    assert cluster.image(cfg, "analysis") is None
    with pytest.raises(ConfigError, match="containers"):
        cluster.image(cfg, "gpu")
    with pytest.raises(ConfigError, match="containers.rl"):
        cluster.image({"containers": {"rl": 3}}, "rl")


def test_schema_gives_defaults_and_rejects_unknown_stages():
    from psmarl import config as cfg

    cfg.schema_validate(
        {
            **yaml.safe_load((REPO / "tests/data/tiny.yaml").read_text()),
            "containers": {"rl": "x.sif", "analysis": None},
        }
    )
    with pytest.raises(ConfigError, match="containers"):
        cfg.schema_validate(
            {
                **yaml.safe_load((REPO / "tests/data/tiny.yaml").read_text()),
                "containers": {"gpu": "x.sif"},
            }
        )
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    props = schema["properties"]["containers"]["properties"]
    for s in cluster.STAGES:
        # the schema names the default, and the code applies it (the config stays as given)
        assert props[s]["default"] == f"containers/{s}.sif"
        assert cluster.image({}, s) == cluster.image({"containers": {}}, s) == props[s]["default"]


def test_missing_image_file_fails_before_any_job(tmp_path):
    (tmp_path / "rl.sif").write_text("x")
    cfg = write_config(
        tmp_path / "config.yaml",
        containers={
            "rl": str(tmp_path / "rl.sif"),
            "marl": None,
            "analysis": str(tmp_path / "nope.sif"),
        },
    )
    r = snakemake(tmp_path, cfg, "-n", "--sdm", "apptainer")
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert f"containers.analysis: image file {tmp_path / 'nope.sif'} does not exist" in out
    # without --sdm apptainer the key is not used, so nothing is checked
    assert snakemake(tmp_path, cfg, "-n").returncode == 0


def test_check_images_cli_names_the_missing_file(tmp_path, psmarl_bin):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump({"containers": {"rl": None, "marl": None, "analysis": "img/analysis.sif"}})
    )
    r = subprocess.run(
        [psmarl_bin, "check-images", "--configfile", str(cfg), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "containers.analysis: image file" in r.stderr and "analysis.sif" in r.stderr
    # a stage the config leaves out has its default image, as in the workflow
    cfg.write_text(yaml.safe_dump({"containers": {"analysis": None, "marl": None}}))
    r = subprocess.run(
        [psmarl_bin, "check-images", "--configfile", str(cfg), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "containers.rl: image file" in r.stderr
    assert "containers/rl.sif" in r.stderr
    with pytest.raises(InputError, match="rl"):
        cluster.check_image_files({"containers": {"rl": "nope.sif"}}, tmp_path)


def test_gpu_probe_says_why_torch_sees_no_gpu():
    """The probe of `check-images --gpu`, run on the host's CPU torch (no `--nv`): it fails
    naming torch, its CUDA build and what to do, instead of passing or a traceback."""
    with pytest.raises(
        InputError,
        match=r"torch 2\.13\.0\S* \(CUDA None\) sees no GPU.*"
        r"--nv.*driver >= 580.*compute capability 7\.5",
    ):
        cluster.probe_gpu([], "rl")


def test_check_images_gpu_needs_a_runner(tmp_path, psmarl_bin):
    cfg = tmp_path / "c.yaml"
    (tmp_path / "rl.sif").write_text("x")
    cfg.write_text(yaml.safe_dump({"containers": {"rl": str(tmp_path / "rl.sif")}}))
    r = subprocess.run(
        [psmarl_bin, "check-images", "--configfile", str(cfg), "--gpu"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--gpu needs --runner" in r.stderr


@pytest.mark.slow
def test_gpu_training_check_puts_the_learner_where_num_gpus_says():
    """`check-images --gpu`'s training run, on the host (no image): num_gpus 0 trains with the
    learner on the CPU; num_gpus 1 without a visible GPU fails with RLlib's reason."""
    s = cluster.gpu_training_run([], num_gpus=0)
    assert s["learner_device"] == "cpu" and s["iterations"] == 1
    with pytest.raises(InputError, match=r"(?s)not a valid GPU ID.*driver >= 580"):
        cluster.gpu_training_run([], num_gpus=1)


# ---------------------------------------------------------------- slow: podman
_IMAGE: dict[str, str] = {}


def analysis_image() -> str:
    """The analysis image built from containers/analysis.def (cached by content)."""
    if "tag" not in _IMAGE:
        run_script("podman_base.sh", timeout=1200)
        sys.path.insert(0, str(SCRIPTS))
        import podman_build

        try:
            _IMAGE["tag"] = podman_build.build(REPO / "containers" / "analysis.def", "analysis")
        except podman_build.BuildError as e:
            pytest.fail(str(e), pytrace=False)
    return _IMAGE["tag"]


def analysis_image_file(path: Path) -> Path:
    """A stand-in image file (tests/cluster/bin/apptainer) for the built analysis image."""
    path.write_text(f"podman-image: {analysis_image()}\n")
    return path


# the analysis stage of the reduced tiny workflow: its rules, and the psmarl subcommands
# they call (paper_figure runs twice: Figures 3 and 4 of the one env)
ANALYSIS_RULES = {
    "aggregate",
    "marl_eval_export",
    "statistics",
    "learning_curve",
    "paper_figure",
    "theory",
    "config_record",
}
ANALYSIS_COMMANDS = sorted(
    [
        "aggregate",
        "marl-eval-export",
        "statistics",
        "learning-curve",
        "paper-figure",
        "paper-figure",
        "theory",
        "config-record",
    ]
)


def psmarl_commands(calls):
    """The psmarl subcommand of each traced container call."""
    return [re.search(r"psmarl ([\w-]+)", c["command"][-1]).group(1) for c in calls]


PODMAN_ENV = {"CONTAINERS_CONF": "/var/tmp/psmarl-cache/containers.conf"}


@pytest.mark.slow
@pytest.mark.cluster
def test_analysis_image_imports_its_own_packages():
    tag = analysis_image()
    info = cluster.probe_image(
        ["env", *[f"{k}={v}" for k, v in PODMAN_ENV.items()], "podman", "run", "--rm", tag],
        "analysis",
    )
    assert info["prefix"] == "/opt/venv" and info["prefix"] != sys.prefix
    r = subprocess.run(
        [
            "env",
            *[f"{k}={v}" for k, v in PODMAN_ENV.items()],
            "podman",
            "run",
            "--rm",
            tag,
            "python3",
            "-c",
            "import torch",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0, "the analysis image must not carry torch"


@pytest.mark.slow
@pytest.mark.cluster
def test_image_lacking_the_stage_packages_is_caught(tmp_path, psmarl_bin):
    analysis_image()  # makes the base image too
    base = "localhost/psmarl-base:bookworm"
    with pytest.raises(InputError, match=r"lacks packages of its stage: pandas"):
        cluster.probe_image(
            ["env", *[f"{k}={v}" for k, v in PODMAN_ENV.items()], "podman", "run", "--rm", base],
            "analysis",
        )
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"containers": {"analysis": base}}))
    # only the analysis stage: the others default to image files this test does not build
    r = subprocess.run(
        [
            psmarl_bin,
            "check-images",
            "--configfile",
            str(cfg),
            "--runner",
            "podman",
            "--stage",
            "analysis",
        ],
        capture_output=True,
        text=True,
        env=workflow_env(**PODMAN_ENV),
    )
    assert r.returncode == 2 and "lacks packages" in r.stderr and "seaborn" in r.stderr


@pytest.mark.slow
@pytest.mark.cluster
def test_analysis_stage_of_tiny_workflow_runs_in_its_image(tmp_path):
    ref = local_reference_run()
    image_file = analysis_image_file(tmp_path / "analysis.sif")
    wd = copy_run(ref, tmp_path / "wd")
    # remove what the analysis stage makes; training, evaluation, baselines stay
    for d in ("tables", "figures", "theory", "report"):
        shutil.rmtree(wd / "results" / d)
    cfg = write_config(
        wd / "config.yaml", containers={"rl": None, "marl": None, "analysis": str(image_file)}
    )
    trace = tmp_path / "apptainer.log"
    env = workflow_env(
        PSMARL_APPTAINER_LOG=str(trace), PATH=f"{STANDIN_BIN}:{workflow_env()['PATH']}"
    )
    r = snakemake(wd, cfg, "--cores", "2", "--sdm", "apptainer", env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    ran = set(re.findall(r"^(?:local)?rule (\w+):", out, re.MULTILINE)) - {"all"}
    assert ran == ANALYSIS_RULES, ran

    calls = [json.loads(ln) for ln in trace.read_text().splitlines()]
    assert sorted(psmarl_commands(calls)) == ANALYSIS_COMMANDS
    host_python = f"{sys.executable} {sys.prefix}"
    for c in calls:
        # the stage's `psmarl` and Python are the image's, not the host's venv
        assert c["image"] == analysis_image()
        assert c["psmarl"] == "/opt/venv/bin/psmarl", c
        assert c["python"].startswith("/opt/venv/bin/python3 /opt/venv "), c
        assert not c["python"].startswith(host_python)
    assert_same_outputs(ref, wd)
    assert (wd / "results" / "figures" / f"learning_curve_{ENV}.pdf").exists()
