"""Bad input is one line naming the file or key, before any job (issue 18, defects 4 and 6)."""

import copy
import subprocess

import pytest
import yaml

from psmarl import config as cfg
from psmarl.cli import main
from psmarl.errors import ConfigError

pytestmark = pytest.mark.reliability


def _validate(capsys, *files) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = main(["validate", *map(str, files)])
    return rc, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    "text, where, what",
    [
        (
            "envs:\n  pursuit: {preset: paper\nseeds: [0]\n",
            "3: YAML syntax error at line 3, column 6",
            "expected ',' or '}', but got ':' (while parsing a flow mapping at line 2, column 12)",
        ),
        (
            "envs:\n  pursuit:\n\tpreset: paper\n",
            "3: YAML syntax error at line 3, column 1",
            "found character '\\t' that cannot start any token",
        ),
        (
            "seeds: [0]\n results_dir: x\n",
            "2: YAML syntax error at line 2, column 2",
            "expected <block end>, but found '<block mapping start>' "
            "(while parsing a block mapping at line 1, column 1)",
        ),
    ],
)
def test_a_yaml_syntax_error_names_file_and_line(tmp_path, capsys, text, where, what):
    f = tmp_path / "broken.yaml"
    f.write_text(text)
    rc, err = _validate(capsys, f)
    assert rc == 2 and len(err) == 1, err
    assert err[0] == f"psmarl validate: error: {f}:{where}: {what}"


def test_a_config_that_is_not_utf8_is_named(tmp_path, capsys):
    f = tmp_path / "latin1.yaml"
    f.write_bytes("seeds: [0]  # \xe9\n".encode("latin-1"))
    rc, err = _validate(capsys, f)
    assert rc == 2 and len(err) == 1 and f"{f}: not a UTF-8 text file" in err[0]


def test_snakemake_names_file_and_line_of_a_broken_default_config(tmp_path, snakemake_bin):
    """The Snakefile reads config/config.yaml through psmarl first: Snakemake's own message
    ("Config file is not valid JSON or YAML") names neither."""
    from conftest import REPO

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("seeds: [0\n")
    r = subprocess.run(
        [snakemake_bin, "-n", "-s", str(REPO / "workflow" / "Snakefile"), "-d", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert r.returncode != 0
    assert "config/config.yaml:2: YAML syntax error at line 2" in r.stdout, r.stdout[-2000:]


def test_preflight_names_file_and_line_of_a_broken_configfile(tmp_path, capsys):
    f = tmp_path / "paper.yaml"
    f.write_text("methods:\n  ppo: [\n")
    capsys.readouterr()
    rc = main(["preflight", "--", "--configfile", str(f), "-n"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(f"psmarl preflight: error: {f}:3: YAML syntax error at line 3, ")


def test_results_dir_that_is_a_regular_file_is_rejected(tiny_config, tmp_path):
    f = tmp_path / "results"
    f.write_text("not a folder")
    c = copy.deepcopy(tiny_config)
    c["results_dir"] = str(f)
    with pytest.raises(ConfigError, match=r"^results_dir: .* exists and is not a folder"):
        cfg.validate(c)
    c["results_dir"] = str(f / "sub")
    with pytest.raises(ConfigError, match="results_dir"):
        cfg.validate(c)


def test_results_dir_that_is_a_file_fails_snakemake_before_any_job(tmp_path, snakemake_bin):
    from conftest import REPO, TINY

    (tmp_path / "results").write_text("")
    r = subprocess.run(
        [
            snakemake_bin,
            "-n",
            "-s",
            str(REPO / "workflow" / "Snakefile"),
            "-d",
            str(tmp_path),
            "--configfile",
            str(TINY),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert r.returncode != 0
    assert (
        "invalid config: results_dir: 'results': results exists and is not a folder" in r.stdout
    ), r.stdout[-2000:]
    assert "Traceback" not in r.stdout


@pytest.mark.parametrize(
    "runtime, methods_extra, key",
    [
        ({"num_cpus": 1, "num_env_runners": 3}, {}, "training.runtime.num_env_runners"),
        (
            {"num_cpus": 2, "num_env_runners": 1},
            {"env_runners": {"num_env_runners": 4}},
            "methods.ppo.env_runners.num_env_runners",
        ),
    ],
)
def test_more_env_runners_than_cpus_is_rejected_naming_both_keys(
    tiny_config, runtime, methods_extra, key
):
    """Before: validation passed and training waited for CPUs for ever, saying nothing."""
    c = copy.deepcopy(tiny_config)
    c["training"]["runtime"] = runtime
    c["methods"]["ppo"].update(methods_extra)
    with pytest.raises(ConfigError) as e:
        cfg.validate(c)
    msg = str(e.value)
    assert msg.startswith(f"{key}: ") and "training.runtime.num_cpus is" in msg, msg


def test_as_many_env_runners_as_cpus_and_auto_pass(tiny_config):
    c = copy.deepcopy(tiny_config)
    for runtime in (
        {"num_cpus": 3, "num_env_runners": 3},
        {"num_cpus": 1},
        {"num_cpus": 1, "num_env_runners": "auto"},
        {"num_cpus": 2, "num_env_runners": 0},
    ):
        c["training"]["runtime"] = runtime
        cfg.validate(c)


def test_validate_cli_is_one_line_for_too_many_runners(tiny_config, tmp_path, capsys):
    c = copy.deepcopy(tiny_config)
    c["training"]["runtime"] = {"num_cpus": 1, "num_env_runners": 3}
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(c))
    rc, err = _validate(capsys, f)
    assert rc == 2 and len(err) == 1
    assert err[0].startswith(
        "psmarl validate: error: training.runtime.num_env_runners: 3 env "
        "runner process(es) need 3 CPU(s), but training.runtime.num_cpus is 1"
    )
