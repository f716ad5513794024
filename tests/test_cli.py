import json
import subprocess

import pytest

from psmarl.cli import build_parser, main

STAGES = [
    "train",
    "marl-train",
    "evaluate",
    "random-baseline",
    "idle-baseline",
    "aggregate",
    "statistics",
    "learning-curve",
    "paper-figure",
    "sharing-summary",
    "theory",
    "config-record",
    "validate",
    "envs",
    "methods",
]


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
    spec = {
        "env": {"name": "multiwalker", "preset": "paper", "kwargs": {}, "agent_indication": "none"},
        "episodes": 2,
        "seed": 0,
        "workers": 1,
        "envs_per_worker": 1,
    }
    rc = main(
        [
            "evaluate",
            "--spec",
            json.dumps(spec),
            "--checkpoint",
            str(tmp_path / "gone"),
            "--out-dir",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 2
    assert str(tmp_path / "gone") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_play_count_on_the_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["random-baseline", "--spec", "{}", "--out-dir", str(tmp_path), "--episodes", "0"])
    assert e.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_validate_command(psmarl_bin):
    from conftest import REPO

    r = subprocess.run(
        [psmarl_bin, "validate", str(REPO / "config/config.yaml")], capture_output=True, text=True
    )
    assert r.returncode == 0 and "config OK" in r.stderr


def test_validate_names_the_old_baselines_section(capsys):
    from conftest import REPO

    data = REPO / "tests" / "data"
    main(["validate", str(data / "tiny.yaml"), str(data / "tiny.baselines.yaml")])
    err = capsys.readouterr().err
    assert "baselines: is the old name of methods:" in err
    assert "move baselines.maddpg, baselines.qmix under methods:" in err
    main(
        [
            "validate",
            str(REPO / "config" / "paper.yaml"),
            str(REPO / "config" / "paper.baselines.yaml"),
        ]
    )
    assert "old name" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "old,new",
    [
        ("random", "random-baseline"),
        ("figures", "learning-curve"),
        ("dump-config", "config-record"),
        ("sharing-figure", "sharing-summary"),
    ],
)
def test_a_renamed_subcommand_names_its_new_name(old, new, capsys):
    assert main([old, "--spec", "{}"]) == 2
    err = capsys.readouterr().err
    assert f"`psmarl {old}` is now `psmarl {new}`" in err


def test_a_renamed_subcommand_from_the_shell(psmarl_bin):
    r = subprocess.run([psmarl_bin, "random", "--help"], capture_output=True, text=True)
    assert r.returncode == 2 and "`psmarl random-baseline`" in r.stderr


def test_config_record_writes_the_config_as_yaml(tmp_path):
    import yaml

    config = {"seeds": [0, 1], "envs": {"pursuit": {"preset": "paper"}}}
    out = tmp_path / "report" / "config.yaml"
    assert main(["config-record", "--config", json.dumps(config), "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text()) == config


def test_methods_lists_the_whole_catalogue_with_backends(capsys):
    main(["methods"])
    heads = [ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith(" ")]
    assert len(heads) == 13
    backend = {h.split(":")[0]: h.rsplit("[", 1)[1].split(";")[0] for h in heads}
    assert backend["ppo"] == "rllib" and backend["sac"] == "rllib"
    assert backend["maddpg"] == backend["qmix"] == "benchmarl"


def test_marl_train_alias_refuses_an_rllib_spec(tmp_path):
    from psmarl.errors import InputError

    a = build_parser().parse_args(
        ["marl-train", "--spec", json.dumps({"method": "ppo"}), "--run-dir", str(tmp_path)]
    )
    with pytest.raises(InputError, match="RLlib method: use psmarl train"):
        a.func(a)
    a = build_parser().parse_args(
        ["train", "--spec", json.dumps({"env": {}}), "--run-dir", str(tmp_path)]
    )
    with pytest.raises(InputError, match="names no method"):
        a.func(a)


def test_methods_name_shows_each_setting_with_its_doc(capsys):
    main(["methods", "qmix"])
    out = capsys.readouterr().out
    assert out.startswith("qmix: QMIX") and "\n  backend: benchmarl\n" in out
    assert "    bins = 3  # values per action dimension" in out
    assert '    optimizer = "rmsprop"  # ' in out
    main(["methods", "ppo"])
    assert "    training.lr = 5e-05" in capsys.readouterr().out


@pytest.mark.parametrize("stage", ["random-baseline", "idle-baseline"])
def test_a_baseline_spec_without_its_keys_is_named(stage, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main([stage, "--spec", '{"episodes": 2}', "--out-dir", out]) == 2
    assert "--spec lacks env, seed" in capsys.readouterr().err
    spec = '{"env": {"name": "pursuit"}, "episodes": 2, "seed": 0}'
    assert main([stage, "--spec", spec, "--out-dir", out]) == 2
    assert "--spec lacks env.preset" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
