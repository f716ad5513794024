"""profiles/slurm: its checks (fast), and the tiny workflow on a real one-node Slurm (slow).

The slow test starts Slurm (tests/cluster/slurm_up.sh: munge, slurmctld, slurmd, two fake
GPUs through gres), runs tests/data/tiny.yaml cut to one env and one sharing mode through
profiles/slurm with a test overlay that changes only what a one-node test cluster needs
(ONE_NODE_OVERLAY), and stops the daemons afterwards. The analysis stage runs in its image
(built from containers/analysis.def with podman, see tests/test_containers.py) through the podman
stand-in for apptainer; training and evaluation run on the host (no rl image is built here).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from clusterlib import (
    ENV,
    STANDIN_BIN,
    assert_same_seeded_outputs,
    local_reference_run,
    require_slurm_plugin,
    run_script,
    snakemake,
    workflow_env,
    write_config,
)
from conftest import REPO

from psmarl import cluster

PROFILE = REPO / "profiles" / "slurm"

# The only changes the test makes to profiles/slurm/config.yaml, and why:
ONE_NODE_OVERLAY = {
    # no accounting database on the test cluster: sacct knows no job, so states come from
    # squeue (slurm.conf keeps finished jobs visible there: MinJobAge)
    "slurm-status-command": "squeue",
    # first status check after 5 s, not 40 s: the tiny jobs take seconds
    "slurm-init-seconds-before-status-checks": 5,
}
ONE_NODE_DROPPED = {("default-resources", "slurm_account")}  # no accounts without accounting


def load_profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def one_node_profile(dst: Path) -> Path:
    prof = load_profile()
    for section, key in ONE_NODE_DROPPED:
        del prof[section][key]
    prof.update(ONE_NODE_OVERLAY)
    dst.mkdir(parents=True)
    (dst / "config.yaml").write_text(yaml.safe_dump(prof, sort_keys=False))
    return dst


# ---------------------------------------------------------------- fast: the profile
def test_shipped_profile_passes_its_check():
    assert cluster.check_profile(PROFILE, cluster.workflow_rules(REPO)) == []


def test_profile_asks_gpu_for_training_and_grows_with_attempts():
    prof = load_profile()
    assert prof["executor"] == "slurm"
    assert prof["software-deployment-method"] == "apptainer" and "--nv" in prof["apptainer-args"]
    res = prof["set-resources"]
    assert res["train"]["gpu"] == 1  # every method's runs, RLlib's and BenchMARL's
    assert "gpu" not in res["evaluate"] and "gpu" not in res["aggregate"]
    local = set()
    for f in (REPO / "workflow" / "rules").glob("*.smk"):
        local |= {
            m.group(1)
            for m in re.finditer(
                r"^rule (\w+):\n(?:(?!^rule ).)*?^    localrule: True",
                f.read_text(),
                re.MULTILINE | re.DOTALL,
            )
        }
    assert local == {"config_record"}
    assert set(res) == cluster.workflow_rules(REPO) - {"all"} - local, (
        "every rule that runs on Slurm gets its resources"
    )
    for rule, r in res.items():
        for key in ("runtime", "mem_mb"):
            grow = [eval(str(r[key]), {"attempt": a}) for a in (1, 2, 3)]
            assert grow[0] < grow[1] < grow[2], (rule, key, grow)
    assert eval(res["train"]["mem_mb"], {"attempt": 1}) > eval(
        res["aggregate"]["mem_mb"], {"attempt": 1}
    )


def test_one_node_overlay_changes_only_what_it_declares():
    prof, base = yaml.safe_load(yaml.safe_dump(load_profile())), load_profile()
    for section, key in ONE_NODE_DROPPED:
        del prof[section][key]
    prof.update(ONE_NODE_OVERLAY)
    changed = {k for k in set(prof) | set(base) if prof.get(k) != base.get(k)}
    assert changed == set(ONE_NODE_OVERLAY) | {s for s, _ in ONE_NODE_DROPPED}
    assert prof["set-resources"] == base["set-resources"]


@pytest.mark.parametrize(
    "key,hint", [("gpus", "gpu"), ("gpu_type", "gpu_model"), ("time_min", "runtime")]
)
def test_keys_the_plugin_ignores_are_caught(tmp_path, key, hint):
    prof = load_profile()
    prof["set-resources"]["train"][key] = 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(prof))
    problems = cluster.check_profile(tmp_path, cluster.workflow_rules(REPO))
    assert len(problems) == 1
    assert f"set-resources.train: resource {key!r}" in problems[0]
    assert f"did you mean {hint!r}" in problems[0]


def test_unknown_rule_and_missing_nv_are_caught(tmp_path):
    prof = load_profile()
    prof["set-resources"]["trian"] = {"runtime": 10}
    prof["apptainer-args"] = "--bind /scratch"
    prof["default-resources"]["partition"] = "gpu"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(prof))
    problems = "\n".join(cluster.check_profile(tmp_path, cluster.workflow_rules(REPO)))
    assert "set-resources.trian: no such rule" in problems
    assert "lacks '--nv'" in problems
    assert "default-resources: resource 'partition'" in problems and "'slurm_partition'" in problems


def test_check_profile_cli(tmp_path, psmarl_bin):
    ok = subprocess.run(
        [psmarl_bin, "check-profile", str(PROFILE), "--repo", str(REPO)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    prof = load_profile()
    prof["set-resources"]["train"]["gpus"] = 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(prof))
    bad = subprocess.run(
        [psmarl_bin, "check-profile", str(tmp_path), "--repo", str(REPO)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "'gpus'" in bad.stderr and "'gpu'" in bad.stderr
    missing = subprocess.run(
        [psmarl_bin, "check-profile", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "not found" in missing.stderr


# ---------------------------------------------------------------- slow: a real Slurm
@pytest.fixture(scope="module")
def slurm():
    require_slurm_plugin()
    out = run_script("slurm_up.sh", timeout=900)
    conf = out.strip().splitlines()[-1].split("=", 1)[1]
    state = Path(conf).parent
    pids = [int((state / f"{d}.pid").read_text()) for d in ("slurmctld", "slurmd")]
    try:
        yield conf
    finally:
        run_script("slurm_down.sh", timeout=120)
        alive = [p for p in pids if _running(p)]
        assert not alive, f"slurm_down.sh left daemons running: {alive}"


def _running(pid: int) -> bool:
    """A live process (a zombie waiting for its parent to reap it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def scontrol_job(conf: str, jobid: str) -> dict[str, str]:
    r = subprocess.run(
        ["scontrol", "show", "job", "-o", jobid],
        capture_output=True,
        text=True,
        timeout=30,
        env=workflow_env(SLURM_CONF=conf),
    )
    assert r.returncode == 0, r.stderr
    return dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)


@pytest.mark.slow
@pytest.mark.cluster
def test_tiny_workflow_through_slurm_matches_a_local_run(slurm, tmp_path):
    from test_containers import ANALYSIS_COMMANDS, analysis_image_file, psmarl_commands

    ref = local_reference_run()
    image_file = analysis_image_file(tmp_path / "analysis.sif")
    prof = one_node_profile(tmp_path / "profile")
    wd = tmp_path / "wd"
    wd.mkdir()
    cfg = write_config(
        wd / "config.yaml", containers={"rl": None, "marl": None, "analysis": str(image_file)}
    )
    trace = tmp_path / "apptainer.log"
    env = workflow_env(
        SLURM_CONF=slurm,
        PSMARL_APPTAINER_LOG=str(trace),
        PATH=f"{STANDIN_BIN}:{workflow_env()['PATH']}",
    )
    r = snakemake(wd, cfg, "--profile", str(prof), env=env, timeout=1500)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]

    # every job went through sbatch: as many submissions as jobs, no job run locally
    submitted = re.findall(
        r"Job \d+ has been submitted with SLURM jobid (\d+) "
        r"\(log: \S+/rule_(\w+?)/",
        out,
    )
    planned = re.findall(r"^(?:local)?rule (\w+):", out, re.MULTILINE)
    # local by the workflow's own declaration: `all` and config_record (localrule: True)
    local = set(re.findall(r"^localrule (\w+):", out, re.MULTILINE))
    assert local <= {"all", "config_record"}, local
    want = {
        "train": 1,
        "evaluate": 1,
        "random_baseline": 1,
        "aggregate": 1,
        "marl_eval_export": 1,
        "statistics": 1,
        "learning_curve": 1,
        "paper_figure": 2,
        "theory": 1,
    }
    got: dict[str, int] = {}
    for _, rule in submitted:
        got[rule] = got.get(rule, 0) + 1
    assert got == want, (got, planned)

    # what Slurm was asked for, job by job
    for jobid, rule in submitted:
        job = scontrol_job(slurm, jobid)
        assert job["JobState"] == "COMPLETED", (rule, job)
        assert Path(job["WorkDir"]) == wd
        gpus = job.get("TresPerJob", "")
        if rule == "train":
            assert "gpu:1" in gpus and job["Partition"] == "gpu", (rule, job)
            assert job["TimeLimit"] == "12:00:00", job["TimeLimit"]  # 720 min at attempt 1
            assert job["MinMemoryNode"] == "16000M", job["MinMemoryNode"]
        else:
            assert "gpu" not in gpus and job["Partition"] == "cpu", (rule, job)
        assert job["NumCPUs"] == "1", (rule, job)  # the rules' threads in tiny.yaml

    # the analysis stage ran in its image, with --nv passed from the profile
    import json

    calls = [json.loads(ln) for ln in trace.read_text().splitlines()]
    assert sorted(psmarl_commands(calls)) == ANALYSIS_COMMANDS, calls
    for c in calls:
        assert c["nv"] is True and c["psmarl"] == "/opt/venv/bin/psmarl", c
        assert c["image"] == image_file.read_text().split(":", 1)[1].strip()

    assert_same_seeded_outputs(ref, wd)
    assert (wd / "results" / "figures" / f"learning_curve_{ENV}.png").exists()
