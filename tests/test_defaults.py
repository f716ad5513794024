"""One table of config defaults (psmarl.defaults): the schema, config/README.md, the report
captions and the code all give the same values."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from conftest import REPO, TINY

from psmarl import cluster, defaults, figures, stats, theory
from psmarl import config as cfg

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
README = REPO / "config" / "README.md"


def schema_defaults(node, prefix=""):
    """{dotted key: default} of every `default:` under the schema's `properties`."""
    out = {}
    for key, sub in (node.get("properties") or {}).items():
        if "default" in sub:
            out[prefix + key] = sub["default"]
        out.update(schema_defaults(sub, f"{prefix}{key}."))
    return out


def readme_defaults():
    """{key: default cell} of config/README.md's table, rows naming one key."""
    out = {}
    for line in README.read_text().splitlines():
        m = re.match(r"^\| `([\w.<>]+)` \| [^|]* \| ([^|]*) \|", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def test_schema_defaults_are_the_table():
    assert schema_defaults(yaml.safe_load(SCHEMA.read_text())) == defaults.flat()


def test_readme_defaults_column_is_the_table():
    rows = readme_defaults()
    for key, value in defaults.flat().items():
        assert key in rows, f"config/README.md has no row for `{key}`"
        cell = rows[key].strip("`")
        assert yaml.safe_load(cell) == value, (key, rows[key], value)


def test_report_captions_fall_back_to_the_table():
    """Captions read the config; where a key is absent they name its default."""
    found = 0
    for f in (REPO / "workflow" / "report").glob("*.rst"):
        text = f.read_text()
        aliases = dict(
            re.findall(r'{% set (\w+) = snakemake\.config\.get\("(\w+)", \{\}\) %}', text)
        )
        for m in re.finditer(
            r'(?:snakemake\.config\.get\("(\w+)", \{\}\)|(\w+))'
            r'\.get\("(\w+)", ([^)]+)\)',
            text,
        ):
            section = m.group(1) or aliases.get(m.group(2))
            if section is None or (
                f"{section}.{m.group(3)}" not in defaults.flat() and m.group(4) == "{}"
            ):  # a mapping such as per_env
                continue
            found += 1
            assert yaml.safe_load(m.group(4)) == defaults.default(f"{section}.{m.group(3)}"), (
                f.name,
                m.group(0),
            )
        for m in re.finditer(r'snakemake\.config\.get\("(\w+)"(?:, ([^)]+))?\)', text):
            if m.group(1) in ("envs", "methods", "training", "evaluation", "report", "figures"):
                continue
            found += 1
            assert m.group(2) is not None, (f.name, m.group(0), "needs its default")
            assert yaml.safe_load(m.group(2)) == defaults.default(m.group(1)), (f.name, m.group(0))
    assert found >= 15


def test_the_code_takes_its_defaults_from_the_table(tiny_config):
    from psmarl.train import resolve_runtime

    c = {
        k: v
        for k, v in tiny_config.items()
        if k not in ("evaluation", "random_baseline", "seeds", "sharing")
    }
    c["training"] = {"budget": {"iterations": 2}}
    spec = cfg.train_spec(c, "pursuit", "ppo", "shared", 0)
    assert spec["checkpoint_every"] == defaults.default("training.checkpoint_every")
    ev = cfg.eval_spec(c, "pursuit")
    for key in ("episodes", "seed", "envs_per_worker"):
        assert ev[key] == defaults.default(f"evaluation.{key}")
    assert cfg.eval_workers(c) == defaults.default("evaluation.workers")
    assert cfg.random_spec(c, "pursuit")["episodes"] == defaults.default("evaluation.episodes")
    assert cfg.train_threads(c) == defaults.default("training.runtime.num_cpus")
    assert cfg.results_root({}) == defaults.default("results_dir")
    assert cfg.figure_formats(c) == defaults.default("figures.formats")
    jobs = cfg.train_jobs(c)
    assert {j[2] for j in jobs} == set(defaults.default("sharing"))
    assert {j[3] for j in jobs} == set(defaults.default("seeds"))
    # the BenchMARL stack and the RLlib runtime keep copies (issue 17's run loop merges them)
    c["baselines"] = {"qmix": {"envs": ["pursuit"]}}
    assert cfg.train_spec(c, "pursuit", "qmix", "shared", 0)[
        "checkpoint_every"
    ] == defaults.default("training.checkpoint_every")
    rt = resolve_runtime({})
    assert rt["num_cpus"] == defaults.default("training.runtime.num_cpus")
    assert rt["num_gpus"] == defaults.default("training.runtime.num_gpus")
    assert resolve_runtime({}, cores=2) == resolve_runtime(
        defaults.section("training.runtime"), cores=2
    )
    assert figures.DEFAULTS == defaults.section("figures")
    assert stats.DEFAULTS == defaults.section("report")
    assert theory.DEFAULTS == defaults.section("theory")
    assert theory.theory_spec({}) == dict(sorted(defaults.section("theory").items()))
    for stage in cluster.STAGES:
        assert cluster.image({}, stage) == defaults.default(f"containers.{stage}")


def test_get_reads_the_config_then_the_table():
    assert defaults.get({}, "evaluation.episodes") == 1000
    assert defaults.get({"evaluation": None}, "evaluation.episodes") == 1000
    assert defaults.get({"evaluation": {"episodes": 3}}, "evaluation.episodes") == 3
    assert defaults.get({"containers": {"rl": None}}, "containers.rl") is None
    assert defaults.get({"containers": {"marl": "m.sif"}}, "containers.rl") == "containers/rl.sif"
    v = defaults.get({}, "figures.formats")
    v.append("svg")  # a copy: the table stays as it is
    assert defaults.default("figures.formats") == ["png", "pdf"]
    with pytest.raises(KeyError, match="random_baseline.episodes"):
        defaults.default("random_baseline.episodes")


def test_the_workflow_keeps_the_config_as_given(snakemake_bin, tmp_path):
    """Snakemake validates with set_default=False: the config record holds exactly the
    config file (no default filled in), and so do every rule's params."""
    r = subprocess.run(
        [
            snakemake_bin,
            "-s",
            str(REPO / "workflow" / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(TINY),
            "-n",
            "-p",
            "results/report/config.yaml",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    recorded = json.loads(re.search(r"config-record --config '(\{.*?\})'", r.stdout).group(1))
    assert recorded == yaml.safe_load(TINY.read_text())
