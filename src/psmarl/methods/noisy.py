"""Noisy linear layer with factorised Gaussian noise (Fortunato et al., 2018, "Noisy
Networks for Exploration", Section 3(b)).

``y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b`` with, for ``p`` inputs and ``q``
outputs, ``eps_w = f(eps_out) f(eps_in)^T`` and ``eps_b = f(eps_out)``, where
``eps_in ~ N(0, I_p)``, ``eps_out ~ N(0, I_q)`` and ``f(x) = sgn(x) sqrt(|x|)``.
Initialisation (paper): ``mu ~ U[-1/sqrt(p), 1/sqrt(p)]`` (what ``torch.nn.Linear`` draws)
and ``sigma = sigma0 / sqrt(p)``.

The noise is a non-persistent buffer: it is resampled only by :meth:`NoisyLinear.reset_noise`
(the owner decides when: RLlib's modules do it once per forward pass in training and
exploration), it never enters a checkpoint or a weight sync, and with ``noise_on=False``
the layer computes with the mean weights only (deterministic inference).

Reusable by any method family (torch only; imported lazily by the RLModules).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _scaled_noise(n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    x = torch.randn(n, generator=generator, device=device)
    return x.sign() * x.abs().sqrt()


class NoisyLinear(nn.Module):
    """Drop-in replacement of ``nn.Linear`` with learnable factorised Gaussian noise."""

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5, bias: bool = True):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"NoisyLinear needs positive sizes, got {in_features}x{out_features}")
        if sigma0 < 0:
            raise ValueError(f"sigma0 must be >= 0, got {sigma0}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.sigma0 = float(sigma0)
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_sigma = nn.Parameter(torch.empty(out_features, in_features))
        self.register_buffer("eps_in", torch.zeros(in_features), persistent=False)
        self.register_buffer("eps_out", torch.zeros(out_features), persistent=False)
        if bias:
            self.bias_mu = nn.Parameter(torch.empty(out_features))
            self.bias_sigma = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias_mu", None)
            self.register_parameter("bias_sigma", None)
        # True: weights = mu + sigma * eps (training, exploration); False: mu only
        self.noise_on = True
        self.reset_parameters()
        self.reset_noise()

    @classmethod
    def from_linear(cls, linear: nn.Linear, sigma0: float = 0.5) -> NoisyLinear:
        """A noisy layer whose mean weights are ``linear``'s (keeps the owner's init)."""
        layer = cls(linear.in_features, linear.out_features, sigma0, bias=linear.bias is not None)
        with torch.no_grad():
            layer.weight_mu.copy_(linear.weight)
            if linear.bias is not None:
                layer.bias_mu.copy_(linear.bias)
        return layer.to(linear.weight.device)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        sigma = self.sigma0 / math.sqrt(self.in_features)
        with torch.no_grad():
            self.weight_mu.uniform_(-bound, bound)
            self.weight_sigma.fill_(sigma)
            if self.bias_mu is not None:
                self.bias_mu.uniform_(-bound, bound)
                self.bias_sigma.fill_(sigma)

    @torch.no_grad()
    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        """Draw fresh factorised noise (p + q normal samples)."""
        dev = self.weight_mu.device
        self.eps_in.copy_(_scaled_noise(self.in_features, generator, dev))
        self.eps_out.copy_(_scaled_noise(self.out_features, generator, dev))

    def effective_weight(self) -> torch.Tensor:
        if not self.noise_on:
            return self.weight_mu
        return self.weight_mu + self.weight_sigma * torch.outer(self.eps_out, self.eps_in)

    def effective_bias(self) -> torch.Tensor | None:
        if self.bias_mu is None:
            return None
        if not self.noise_on:
            return self.bias_mu
        return self.bias_mu + self.bias_sigma * self.eps_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.effective_bias())

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"sigma0={self.sigma0}, bias={self.bias_mu is not None}"
        )


def noisify(module: nn.Module, sigma0: float = 0.5) -> int:
    """Replace every ``nn.Linear`` inside ``module`` (recursively) by a :class:`NoisyLinear`
    with the same mean weights. Returns how many layers were replaced."""
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear):
            setattr(module, name, NoisyLinear.from_linear(child, sigma0))
            count += 1
        else:
            count += noisify(child, sigma0)
    return count


def noisy_layers(module: nn.Module) -> list[NoisyLinear]:
    return [m for m in module.modules() if isinstance(m, NoisyLinear)]


def set_noise(module: nn.Module, on: bool) -> None:
    for layer in noisy_layers(module):
        layer.noise_on = bool(on)


def reset_noise(module: nn.Module) -> None:
    for layer in noisy_layers(module):
        layer.reset_noise()
