"""docs/fidelity.md against the code: every psmarl value read from config/paper.yaml is the
one its row was written for, the page is the rendering of src/psmarl/fidelity.py, and the
training intensities in the config are the paper's logs' ratios."""

import pandas as pd
import pytest

from psmarl import fidelity
from psmarl.config import method_settings

CONFIG = fidelity.load_config()
CHECKED = [e for e in fidelity.ENTRIES if callable(e.psmarl)]


@pytest.mark.parametrize("entry", CHECKED, ids=[f"{e.method}-{e.env}-{e.measure}" for e in CHECKED])
def test_psmarl_values_are_the_ones_the_rows_describe(entry):
    assert entry.expect is not None, "a row read from the config says what it expects"
    assert fidelity.psmarl_value(entry, CONFIG) == entry.expect


def test_every_row_is_complete_and_has_a_known_status():
    for e in fidelity.ENTRIES:
        assert all([e.method, e.env, e.measure, e.paper, e.source, e.why, e.effect]), e
        assert e.status in ("same", "held", "differs"), e


def test_the_page_is_up_to_date():
    assert fidelity.DOC.read_text() == fidelity.render(CONFIG), (
        "docs/fidelity.md is stale: run .venv/bin/python -m psmarl.fidelity"
    )


@pytest.mark.parametrize(
    "method, env",
    [("apex_dqn", "pursuit"), ("apex_ddpg", "waterworld"), ("apex_ddpg", "multiwalker")],
)
def test_apex_training_intensity_is_the_logs_ratio(method, env):
    logs = pd.read_csv(fidelity.PAPER_LOGS).set_index(["env", "method", "sharing"])
    held = method_settings(CONFIG, method, env)["training"]["training_intensity"]
    for sharing in ("shared", "independent"):
        assert held[sharing] == pytest.approx(
            logs.loc[(env, method, sharing), "trained_per_sampled"], abs=0.01
        )


def test_synchronous_methods_hold_one_512_batch_per_1280_step_round():
    logs = pd.read_csv(fidelity.PAPER_LOGS)
    sync = logs[logs["method"].isin(["sac", "ddpg", "td3"]) & (logs["status"] == "ok")]
    assert len(sync) >= 6
    assert sync["trained_per_sampled"].between(0.399, 0.4).all()
    for m in ("sac", "ddpg", "td3", "dqn"):
        env = "pursuit" if m == "dqn" else "waterworld"
        assert method_settings(CONFIG, m, env)["training"]["training_intensity"] == 512 / 1280
