import json
import subprocess

import pytest

from psmarl.cli import build_parser, main

STAGES = ["train", "evaluate", "random", "aggregate", "figures", "validate", "envs", "methods"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_help(stage, capsys):
    with pytest.raises(SystemExit) as e:
        main([stage, "--help"])
    assert e.value.code == 0
    assert "usage: psmarl " + stage in capsys.readouterr().out


def test_top_level_help_lists_stages():
    text = build_parser().format_help()
    for stage in STAGES:
        assert stage in text


def test_evaluate_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    spec = {"env": {"name": "multiwalker", "preset": "paper", "kwargs": {}, "agent_indication": "none"},
            "episodes": 2, "seed": 0, "workers": 1, "envs_per_worker": 1}
    rc = main(["evaluate", "--spec", json.dumps(spec), "--checkpoint", str(tmp_path / "gone"),
               "--out-dir", str(tmp_path / "out")])
    assert rc == 2
    assert str(tmp_path / "gone") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_play_count_on_the_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["random", "--spec", "{}", "--out-dir", str(tmp_path), "--episodes", "0"])
    assert e.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_validate_command(psmarl_bin):
    from conftest import REPO

    r = subprocess.run([psmarl_bin, "validate", str(REPO / "config/config.yaml")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "config OK" in r.stderr
