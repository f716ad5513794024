"""The network axis (config ``network:``): one MLP shape for every method of both backends,
over each method's defaults and under its own settings; absent, nothing changes."""

from __future__ import annotations

import pytest
from conftest import TINY

from psmarl import config as cfg
from psmarl import methods
from psmarl.errors import ConfigError


def _with_network(network, **method_sections):
    """The tiny config with only these methods, at their defaults but for what is given."""
    c = cfg.load(TINY)
    c.pop("baselines", None)
    c["methods"] = {"ppo": {}, **method_sections}
    c["network"] = network
    return c


def test_the_axis_shapes_every_backend_and_the_ddpg_critics():
    net = {"hidden": [64, 32], "activation": "tanh"}
    c = _with_network(net, maddpg={}, td3={"envs": ["waterworld"]})
    ppo = cfg.method_settings(c, "ppo", "pursuit")
    assert ppo["model"]["fcnet_hiddens"] == [64, 32]
    assert ppo["model"]["fcnet_activation"] == "tanh"
    assert ppo["model"]["vf_share_layers"] is True  # the rest of the method's model stays
    td3 = cfg.method_settings(c, "td3", "waterworld")
    assert td3["model"]["fcnet_hiddens"] == [64, 32]
    assert td3["training"]["critic_hiddens"] == [64, 32]
    maddpg = cfg.method_settings(c, "maddpg", "pursuit")
    assert maddpg["hidden"] == [64, 32] and maddpg["activation"] == "tanh"
    # the run specs carry it (the axis reaches training)
    spec = cfg.train_spec(c, "pursuit", "ppo", "shared", 0)
    assert spec["method_settings"]["model"]["fcnet_hiddens"] == [64, 32]


def test_a_method_s_own_setting_wins_over_the_axis():
    c = _with_network(
        {"hidden": [64, 32]},
        maddpg={"hidden": [8]},
    )
    c["methods"]["ppo"] = {"model": {"fcnet_hiddens": [16]}}
    assert cfg.method_settings(c, "ppo", "pursuit")["model"]["fcnet_hiddens"] == [16]
    assert cfg.method_settings(c, "maddpg", "pursuit")["hidden"] == [8]
    # only what the axis names moves
    assert cfg.method_settings(c, "maddpg", "pursuit")["activation"] == "relu"


def test_no_axis_changes_no_setting():
    c = cfg.load(TINY)
    for name in methods.names():
        spec = methods.get(name)
        assert spec.network_overlay(None) == {} and spec.network_overlay({}) == {}
    assert cfg.method_settings(c, "ppo", "pursuit") == methods.resolve(
        "ppo", (c.get("methods") or {}).get("ppo"), "pursuit"
    )


@pytest.mark.parametrize(
    "network,key",
    [
        ({"hidden": [0]}, "network.hidden"),
        ({"hidden": []}, "network.hidden"),
        ({"activation": "gelu"}, "network.activation"),
        ({"layers": [4]}, "network"),
    ],
)
def test_bad_axis_values_are_rejected_naming_the_key(network, key):
    c = _with_network(network)
    with pytest.raises(ConfigError) as e:
        cfg.schema_validate(c)
    assert key in str(e.value)
