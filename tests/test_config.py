import copy

import pytest
from conftest import REPO

from psmarl import config as cfg
from psmarl.errors import ConfigError


@pytest.mark.parametrize(
    "name", ["config/config.yaml", "config/paper.yaml", "tests/data/tiny.yaml"]
)
def test_shipped_configs_are_valid(name):
    c = cfg.load(REPO / name)
    cfg.schema_validate(c)
    cfg.validate(c)
    assert len(cfg.train_jobs(c)) >= 6


def test_default_config_trains_ppo_on_four_envs_both_modes():
    c = cfg.load(REPO / "config/config.yaml")
    jobs = cfg.train_jobs(c)
    assert {j[0] for j in jobs} == {"pursuit", "waterworld", "multiwalker", "speaker_listener"}
    assert {j[1] for j in jobs} == {"ppo"}
    assert {j[2] for j in jobs} == {"shared", "independent"}


def _bad(c, mutate):
    c = copy.deepcopy(c)
    mutate(c)
    return c


CASES = [
    ("unknown env", lambda c: c["envs"].update({"mars": {}}), "envs"),
    (
        "unknown preset",
        lambda c: c["envs"]["pursuit"].update({"preset": "x"}),
        "envs.pursuit.preset",
    ),
    ("unknown method", lambda c: c["methods"].update({"alphazero": {}}), "methods"),
    ("unknown sharing", lambda c: c.update({"sharing": ["half"]}), "sharing"),
    (
        "zero budget",
        lambda c: c["training"].update({"budget": {"env_steps": 0}}),
        "training.budget",
    ),
    (
        "negative budget",
        lambda c: c["training"].update({"budget": {"episodes": -5}}),
        "training.budget",
    ),
    (
        "two budgets",
        lambda c: c["training"].update({"budget": {"episodes": 5, "env_steps": 5}}),
        "training.budget",
    ),
    ("zero plays", lambda c: c["evaluation"].update({"episodes": 0}), "evaluation"),
    (
        "per_env unknown",
        lambda c: c["methods"]["ppo"].update({"per_env": {"mars": {}}}),
        "methods.ppo",
    ),
    (
        "misspelled setting",
        lambda c: c["methods"]["ppo"]["training"].update({"lrr": 1e-3}),
        "methods.ppo.training.lrr",
    ),
    (
        "misspelled per_env setting",
        lambda c: c["methods"]["ppo"].update({"per_env": {"pursuit": {"training": {"gama": 0.9}}}}),
        "methods.ppo.per_env.pursuit.training.gama",
    ),
    (
        "unknown model field",
        lambda c: c["methods"]["ppo"]["model"].update({"hiddens": [8]}),
        "methods.ppo.model.hiddens",
    ),
    (
        "unknown setting group",
        lambda c: c["methods"]["ppo"].update({"trainig": {}}),
        "methods.ppo.trainig",
    ),
    (
        "out of range",
        lambda c: c["methods"]["ppo"]["training"].update({"gamma": 1.5}),
        "methods.ppo.training.gamma",
    ),
    (
        "method envs unknown",
        lambda c: c["methods"]["ppo"].update({"envs": ["mars"]}),
        "methods.ppo.envs",
    ),
    # MPE's rewards are all negative: the paper's sign clipping would train on -1s
    (
        "sign clipping a negative-reward env",
        lambda c: c["methods"]["ppo"].pop("per_env"),
        "methods.ppo.per_env.speaker_listener.clip_rewards",
    ),
    (
        "sign clipping asked for by name",
        lambda c: c["methods"]["ppo"]["per_env"]["speaker_listener"].update(clip_rewards=True),
        "methods.ppo.per_env.speaker_listener.clip_rewards",
    ),
]


def test_a_clipping_bound_or_other_envs_may_clip(tiny_config):
    c = copy.deepcopy(tiny_config)
    c["methods"]["ppo"]["per_env"]["speaker_listener"]["clip_rewards"] = 10.0
    cfg.validate(c)  # a bound keeps the signal
    assert cfg.method_settings(c, "ppo", "pursuit")["clip_rewards"] is True  # the paper's


def test_method_envs_selects_jobs(tiny_config):
    c = copy.deepcopy(tiny_config)
    c["methods"]["ppo"]["envs"] = ["pursuit", "multiwalker"]
    cfg.validate(c)
    assert {j[0] for j in cfg.train_jobs(c)} == {"pursuit", "multiwalker"}
    # the job selection is not a training setting: it does not change a run's spec
    assert cfg.train_spec(c, "pursuit", "ppo", "shared", 0) == cfg.train_spec(
        tiny_config, "pursuit", "ppo", "shared", 0
    )


@pytest.mark.parametrize("what,mutate,key", CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_rejected_naming_the_key(tiny_config, what, mutate, key):
    c = _bad(tiny_config, mutate)
    with pytest.raises(ConfigError) as e:
        cfg.schema_validate(c)
        cfg.validate(c)
    assert key in str(e.value), str(e.value)


def test_train_spec_depends_only_on_its_slice(tiny_config):
    before = {j: cfg.train_spec(tiny_config, *j) for j in cfg.train_jobs(tiny_config)}
    c = copy.deepcopy(tiny_config)
    c["methods"]["ppo"]["per_env"]["waterworld"] = {"training": {"lr": 1e-3}}
    after = {j: cfg.train_spec(c, *j) for j in cfg.train_jobs(c)}
    changed = {j for j in before if before[j] != after[j]}
    assert changed == {j for j in before if j[0] == "waterworld"}
    assert after[("waterworld", "ppo", "shared", 0)]["method_settings"]["training"]["lr"] == 1e-3


def test_specs_are_key_order_independent(tiny_config):
    c = copy.deepcopy(tiny_config)
    c["methods"]["ppo"]["training"] = dict(reversed(list(c["methods"]["ppo"]["training"].items())))
    j = ("pursuit", "ppo", "shared", 0)
    assert repr(cfg.train_spec(c, *j)) == repr(cfg.train_spec(tiny_config, *j))


def test_per_env_budget_overrides(tiny_config):
    c = copy.deepcopy(tiny_config)
    c["training"]["per_env"] = {"pursuit": {"budget": {"episodes": 7}}}
    assert cfg.budget(c, "pursuit") == {"episodes": 7}
    assert cfg.budget(c, "waterworld") == {"iterations": 2}


def test_missing_config_file():
    with pytest.raises(ConfigError, match="nope.yaml"):
        cfg.load("nope.yaml")


def test_method_keys_are_cached_so_validation_skips_rllib(tmp_path):
    """`snakemake -n` validates method settings; with a warm cache it must not import RLlib."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = (
        "import sys; from psmarl import methods; k = methods.known_keys('ppo'); "
        "assert 'lr' in k['training'] and 'num_envs_per_env_runner' in k['env_runners']; "
        "print('ray.rllib' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.strip() == "True"  # cold: found by importing RLlib
    assert second.stdout.strip() == "False"  # warm: from the cache
    assert list((tmp_path / "psmarl").glob("method-keys-*.json"))


def test_tiny_all_config_covers_the_paper_grid():
    """tests/data/tiny_all.yaml (every method through the workflow at tiny budgets) stays
    valid and trains exactly the paper's 23 (env, method) pairs; every env in both modes
    (PPO in both, every other method in one: 26 runs)."""
    tiny_all = cfg.load(REPO / "tests" / "data" / "tiny_all.yaml")
    paper = cfg.load(REPO / "config" / "paper.yaml")
    cfg.schema_validate(tiny_all)
    cfg.validate(tiny_all)
    pairs = {(e, m) for e, m, _, _ in cfg.train_jobs(tiny_all)}
    paper_pairs = {(e, m) for e, m, _, _ in cfg.train_jobs(paper) if e != "speaker_listener"}
    assert pairs == paper_pairs and len(pairs) == 23
    jobs = cfg.train_jobs(tiny_all)
    assert len(jobs) == 26
    for env in ("pursuit", "waterworld", "multiwalker"):
        assert {s for e, _, s, _ in jobs if e == env} == {"shared", "independent"}, env
    # the paper's method modules are each covered in both modes by their own tests
    assert {s for _, m, s, _ in jobs if m == "ppo"} == {"shared", "independent"}


def test_an_overlay_leaves_out_envs_and_methods_with_null():
    from psmarl.dicts import deep_merge

    base = cfg.load(REPO / "config/paper.yaml")
    overlay = {
        "envs": {"speaker_listener": None},
        "methods": {"trpo": None, "sac": {"envs": ["waterworld"]}},
    }
    c = deep_merge(base, overlay)
    removed = cfg.drop_left_out(c)
    assert "envs.speaker_listener" in removed and "methods.trpo" in removed
    assert "methods.ppo.envs: speaker_listener" in removed
    assert "methods.ppo.per_env.speaker_listener" in removed
    cfg.schema_validate(c)
    cfg.validate(c)
    jobs = cfg.train_jobs(c)
    assert {j[0] for j in jobs} == {"pursuit", "waterworld", "multiwalker"}
    assert not any(j[1] == "trpo" for j in jobs)
    assert {j[0] for j in jobs if j[1] == "sac"} == {"waterworld"}
    assert {j[0] for j in jobs if j[1] == "ppo"} == {"pursuit", "waterworld", "multiwalker"}
    # the base is what it was without the overlay
    assert len(cfg.train_jobs(base)) > len(jobs)


def test_a_method_whose_envs_are_all_left_out_is_left_out_too():
    c = {
        "envs": {"pursuit": {}, "waterworld": None},
        "methods": {"sac": {"envs": ["waterworld"]}, "ppo": {}},
        "training": {"per_env": {"waterworld": {"budget": {"episodes": 3}}}},
    }
    removed = cfg.drop_left_out(c)
    # an empty envs list would mean every env: the method goes instead
    assert "methods.sac (no env left)" in removed and "sac" not in c["methods"]
    assert c["training"]["per_env"] == {} and list(c["envs"]) == ["pursuit"]
    assert cfg.drop_left_out(c) == []  # nothing more to leave out


def test_validate_reports_what_an_overlay_left_out(tmp_path, capsys):
    from psmarl.cli import main

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("envs: {speaker_listener: null}\n")
    main(["validate", str(REPO / "config/paper.yaml"), str(overlay)])
    err = capsys.readouterr().err
    assert "left out by an overlay: envs.speaker_listener" in err and "config OK" in err


def test_an_overlay_given_alone_is_an_error_that_says_so():
    c = cfg.load(REPO / "config/learning_check.yaml")
    with pytest.raises(ConfigError, match="an overlay goes after the config it changes") as e:
        cfg.drop_left_out(c)
    assert e.value.key == "envs"


def test_sampled_evaluation_is_off_by_default_and_covers_the_policy_gradient_runs():
    paper = cfg.load(REPO / "config" / "paper.yaml")
    assert cfg.sampled_eval_jobs(paper) == []
    paper.setdefault("evaluation", {})["sampled_actions"] = True
    jobs = cfg.sampled_eval_jobs(paper)
    assert {m for _, m, _, _ in jobs} == {"ppo", "a2c", "impala", "trpo"}
    assert jobs == [j for j in cfg.train_jobs(paper) if j[1] in {"ppo", "a2c", "impala", "trpo"}]


#: every config file shipped in config/, with the config an overlay goes after (None: a
#: whole config)
SHIPPED = {
    "config.yaml": [],
    "paper.yaml": [],
    "heterogeneous.yaml": [],
    "reproduce.yaml": [],
    "paper.baselines.yaml": ["paper.yaml"],
    "learning_check.yaml": ["paper.yaml"],
    "ablation_ppo_init.yaml": ["reproduce.yaml"],
    "ablation_ppo_layout.yaml": ["reproduce.yaml"],
    "ablation_multiwalker_bodies.yaml": ["reproduce.yaml"],
    "ablation_ppo_shuffle.yaml": ["reproduce.yaml"],
}


def test_every_shipped_config_is_listed_here():
    assert sorted(p.name for p in (REPO / "config").glob("*.yaml")) == sorted(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_config_validates(name, capsys):
    from psmarl.cli import main

    files = [str(REPO / "config" / f) for f in [*SHIPPED[name], name]]
    main(["validate", *files])
    assert "config OK" in capsys.readouterr().err


def test_a_fragment_that_cannot_fill_the_batch_in_whole_rounds_is_named_before_any_job():
    """A2C samples 1280 in 20-step chunks: 4 rounds on 2 x 8 envs, 1 on the paper's 8 x 8;
    on 3 x 8 it would take 1440 (12% over), which RLlib refuses only once the job runs."""
    paper = cfg.load(REPO / "config/paper.yaml")
    for cpus in (1, 2, 4, 8):
        c = _bad(paper, lambda c, n=cpus: c["training"].update({"runtime": {"num_cpus": n}}))
        cfg.validate(c)
    three = _bad(paper, lambda c: c["training"].update({"runtime": {"num_cpus": 3}}))
    with pytest.raises(ConfigError) as e:
        cfg.validate(three)
    assert e.value.key == "methods.a2c.env_runners.rollout_fragment_length"
    assert "1280" in str(e.value) and "3 runner(s) x 8 envs" in str(e.value)
    # "auto" splits any batch over the envs; so does the paper's 64 envs of config/reproduce
    auto = _bad(
        three,
        lambda c: c["methods"]["a2c"]["env_runners"].update({"rollout_fragment_length": "auto"}),
    )
    cfg.validate(auto)
    # a per-env override is the key named
    env_key = _bad(
        three,
        lambda c: (
            c["methods"]["a2c"]
            .setdefault("per_env", {})
            .update({"pursuit": {"env_runners": {"rollout_fragment_length": 40}}})
        ),
    )
    with pytest.raises(ConfigError) as e:
        cfg.validate(env_key)
    assert e.value.key in (
        "methods.a2c.per_env.pursuit.env_runners.rollout_fragment_length",
        "methods.a2c.env_runners.rollout_fragment_length",
    )
