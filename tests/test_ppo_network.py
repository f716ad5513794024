"""psmarl's PPO network: the model config's initializer settings reach every layer.

RLlib 2.60's PPO catalog passes ``fcnet_*_initializer`` to the hidden layers only and builds
the policy and value heads with torch's defaults; psmarl's catalog
(:class:`psmarl.methods.ppo_rllib.PaperPPOCatalog`) honours ``head_fcnet_*_initializer`` too,
so the paper's network (Glorot-uniform kernels, zero biases in every layer) can be built.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig  # noqa: E402
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec  # noqa: E402
from ray.rllib.core.rl_module.rl_module import RLModuleSpec  # noqa: E402

from psmarl.methods.ppo_rllib import PaperPPOCatalog, PaperPPOConfig  # noqa: E402

OBS = gym.spaces.Box(-1.0, 1.0, (31,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
GLOROT = {
    "fcnet_kernel_initializer": "xavier_uniform_",
    "fcnet_bias_initializer": "zeros_",
    "head_fcnet_kernel_initializer": "xavier_uniform_",
    "head_fcnet_bias_initializer": "zeros_",
}


def build(**model):
    """The module psmarl's PPO builds for one policy (the path of psmarl.train: a module
    spec without a class, completed by the algorithm config's default)."""
    model = {"fcnet_hiddens": [400, 300], "vf_share_layers": True, **model}
    spec = RLModuleSpec(
        observation_space=OBS, action_space=ACT, model_config=DefaultModelConfig(**model)
    )
    config = PaperPPOConfig().rl_module(
        rl_module_spec=MultiRLModuleSpec(rl_module_specs={"p": spec})
    )
    multi = config.get_multi_rl_module_spec(
        spaces={"__env__": (OBS, ACT), "p": (OBS, ACT)}, inference_only=False
    )
    assert multi.rl_module_specs["p"].catalog_class is PaperPPOCatalog
    return multi.build()["p"]


def linear_layers(module):
    """(name, weight, bias) of every linear layer: the hidden layers, the policy head, the
    value head."""
    import torch

    return [
        (name, m.weight.detach(), m.bias.detach())
        for name, m in module.named_modules()
        if isinstance(m, torch.nn.Linear)
    ]


def test_glorot_and_zero_biases_reach_every_layer_heads_included():
    layers = linear_layers(build(**GLOROT))
    names = [n for n, _, _ in layers]
    assert any(n.startswith("pi.") for n in names) and any(n.startswith("vf.") for n in names)
    assert len(layers) == 4  # 400, 300, the policy's 8 outputs, the value
    for name, w, b in layers:
        fan_out, fan_in = w.shape
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        assert float(b.abs().max()) == 0.0, name
        assert float(w.abs().max()) <= limit + 1e-6, name
        # uniform on [-limit, limit]: its spread, not torch's narrower 1/sqrt(fan_in)
        assert float(w.std()) == pytest.approx(limit / math.sqrt(3.0), rel=0.35), name


def test_torch_defaults_without_the_settings():
    for name, w, b in linear_layers(build()):
        fan_in = w.shape[1]
        assert float(w.abs().max()) <= 1.0 / math.sqrt(fan_in) + 1e-6, name
        if name.startswith("pi.") or name.startswith("encoder."):
            assert float(b.abs().max()) > 0.0, name  # torch's uniform biases


def test_head_initializer_kwargs_are_passed():
    layers = linear_layers(
        build(
            head_fcnet_kernel_initializer="constant_",
            head_fcnet_kernel_initializer_kwargs={"val": 0.25},
            head_fcnet_bias_initializer="constant_",
            head_fcnet_bias_initializer_kwargs={"val": -0.5},
        )
    )
    heads = [(n, w, b) for n, w, b in layers if n.startswith(("pi.", "vf."))]
    assert len(heads) == 2
    for name, w, b in heads:
        assert bool((w == 0.25).all()) and bool((b == -0.5).all()), name
