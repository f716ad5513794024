"""Every method's psmarl defaults come from its typed settings dataclass: the defaults are
that dataclass's values, each setting has a docstring, and ``psmarl methods NAME`` lists
every default key."""

import json

import pytest

from psmarl import methods
from psmarl.cli import _flat
from psmarl.methods.spec import describe_settings, settings_defaults


@pytest.mark.parametrize("name", methods.names())
def test_defaults_are_the_settings_dataclass_and_every_field_has_a_doc(name):
    m = methods.get(name)
    assert m.settings is not None, f"{name} has no typed settings"
    assert m.defaults == settings_defaults(m.settings)
    # the same keys in the same order (the train rule's spec JSON is sorted, config dumps are not)
    assert json.dumps(m.defaults) == json.dumps(settings_defaults(m.settings))
    rows = describe_settings(m.settings)
    assert [(k, v) for k, v, _ in rows] == _flat(dict(m.defaults))
    assert all(doc for _, _, doc in rows), [k for k, _, doc in rows if not doc]


def test_a_settings_default_is_a_fresh_copy():
    a, b = settings_defaults(methods.get("ppo").settings), methods.get("ppo").defaults
    a["model"]["fcnet_hiddens"].append(1)
    assert b["model"]["fcnet_hiddens"] == [400, 300]


def test_cli_lists_each_setting_with_its_doc(capsys):
    from psmarl.cli import main

    main(["methods", "ppo"])
    out = capsys.readouterr().out
    assert "training.vf_clip_to_previous = true  # old RLlib's value clipping" in out
    assert 'env_runners.rollout_fragment_length = "auto"  #' in out
