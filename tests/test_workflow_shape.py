"""The workflow's shape (the Snakemake workflow catalog's): lint and format gates, one
naming for rules and subcommands, every path from psmarl.results, and the rules whose
command text existing results depend on."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from psmarl import cli, figures, results

WORKFLOW = REPO / "workflow"
RULE_FILES = sorted((WORKFLOW / "rules").glob("*.smk"))
BIN = Path(sys.executable).parent


def rules() -> dict[str, tuple[Path, str]]:
    """rule name -> (file, the rule's text), for every rule of the workflow."""
    out = {}
    for f in [WORKFLOW / "Snakefile", *RULE_FILES]:
        text = f.read_text()
        for m in re.finditer(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", text, re.MULTILINE | re.DOTALL):
            assert m.group(1) not in out, f"rule {m.group(1)} defined twice"
            out[m.group(1)] = (f, m.group(2))
    return out


def shell_command(body: str) -> str | None:
    """The shell template of a rule (its string literals joined, as Snakemake does)."""
    m = re.search(r"^    shell:\n((?:        .*\n?)+)", body, re.MULTILINE)
    if not m:
        return None
    return ast.literal_eval("(" + m.group(1) + ")")


def test_snakemake_lint_is_clean(snakemake_bin):
    r = subprocess.run(
        [snakemake_bin, "--lint"], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Lints for" not in out, out[-5000:]


def test_snakefmt_leaves_every_rule_file_as_it_is():
    exe = BIN / "snakefmt"
    assert exe.exists(), "snakefmt is not installed (the dev extra: scripts/setup.sh)"
    r = subprocess.run(
        [str(exe), "--check", "workflow"], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:] + "\n(run: snakefmt workflow)"


def test_the_snakefile_is_short_and_rules_live_in_their_own_files():
    snakefile = (WORKFLOW / "Snakefile").read_text()
    assert set(rules()) - {"all"} and "all" in re.findall(r"^rule (\w+):", snakefile, re.M)
    assert re.findall(r"^rule (\w+):", snakefile, re.M) == ["all"]
    assert len(snakefile.splitlines()) <= 60
    common = (WORKFLOW / "rules" / "common.smk").read_text()
    assert not re.search(r"^rule ", common, re.M)
    holders = {f for f, _ in rules().values()}
    assert set(RULE_FILES) - holders == {WORKFLOW / "rules" / "common.smk"}


def test_every_rule_calls_the_subcommand_of_its_name():
    parser = cli.build_parser()
    subcommands = set(parser._subparsers._group_actions[0].choices)
    checked = 0
    for name, (f, body) in rules().items():
        cmd = shell_command(body)
        if name == "all":
            assert cmd is None
            continue
        assert cmd is not None, f"rule {name} ({f.name}) has no shell command"
        called = re.findall(r"\bpsmarl ([a-z][\w-]*)", cmd)
        assert called == [name.replace("_", "-")], (name, cmd)
        assert called[0] in subcommands, (name, called[0])
        checked += 1
    assert checked >= 11


def test_rules_take_every_path_from_psmarl_results():
    """No file name or results sub-folder is spelled out in a rule file."""
    for f in [WORKFLOW / "Snakefile", *RULE_FILES]:
        for lineno, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            for lit in re.findall(r'"([^"]*)"', code):
                if lit.endswith(".rst") or " " in lit:  # captions (workflow/report/), labels
                    continue
                assert not re.search(
                    r"\.(csv|json|png|pdf|svg|log)\b|^(runs|tables|figures|"
                    r"theory|logs|baselines|report)/",
                    lit,
                ), f"{f.name}:{lineno} spells out a path: {lit!r} (use psmarl.results)"
    assert results.root_of("out/x/tables/summary.csv", results.SUMMARY_TABLE) == "out/x"
    assert results.root_of("tables/summary.csv", results.SUMMARY_TABLE) == "."
    with pytest.raises(ValueError, match="layout path"):
        results.root_of("out/x/summary.csv", results.SUMMARY_TABLE)


def test_which_paper_figures_the_sharing_modes_allow():
    assert figures.paper_figures(["shared", "independent"]) == [3, 4, 5]
    assert figures.paper_figures(["shared"]) == [3, 5]
    assert figures.paper_figures(["independent"]) == [4]
    assert figures.draws_sharing_summary(["independent", "shared"])
    assert not figures.draws_sharing_summary(["shared"])


# The command text of the rules that train and evaluate. Snakemake reruns a job whose
# rule's shell text changed since its outputs were made (the `code` rerun trigger, on by
# default and in both profiles), so changing one of these reruns every training run or
# evaluation of every existing results folder: weeks of compute on the paper grid. Change
# them only on purpose, and say so where the change is described. (The BenchMARL runs'
# own rule, marl_train, was folded into train with the one method catalogue: existing
# MADDPG/QMIX runs are rerun once; their specs did not change.)
RUN_COMMANDS = {
    "train": "psmarl train --spec {params.spec:q} --run-dir {params.run_dir} --cores {threads} "
    "2> {log}",
    "evaluate": "OMP_NUM_THREADS=1 psmarl evaluate --spec {params.spec:q} "
    "--checkpoint {input.checkpoint} --out-dir {params.out_dir} --workers "
    "{threads} 2> {log}",
}


def test_training_and_evaluation_commands_are_those_of_existing_results():
    found = rules()
    for name, cmd in RUN_COMMANDS.items():
        assert shell_command(found[name][1]) == cmd, (
            f"the shell command of rule {name} changed: Snakemake will rerun every {name} job "
            "of existing results folders (code trigger); if that is meant, update "
            "RUN_COMMANDS and say so"
        )
