"""TRPO's policy step (torch): conjugate gradient on Fisher-vector products and a
backtracking line search within a KL bound (Schulman et al., 2015). Used by
:class:`psmarl.methods.actor_critic_rllib.TRPOLearner`; the method itself is
:mod:`psmarl.methods.actor_critic`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any


def conjugate_gradient(
    matvec: Callable[[Any], Any], b, iters: int = 10, residual_tol: float = 1e-10
):
    """Approximately solve ``A x = b`` for a symmetric positive definite ``A`` given only
    ``matvec(v) = A v`` (Hestenes-Stiefel CG, starting from x = 0)."""
    import torch

    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = torch.dot(r, r)
    for _ in range(int(iters)):
        if rr <= residual_tol:
            break
        ap = matvec(p)
        alpha = rr / torch.dot(p, ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = torch.dot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def _flat(tensors: Sequence[Any]):
    import torch

    return torch.cat([t.reshape(-1) for t in tensors])


def _assign(params: Sequence[Any], flat) -> None:
    import torch

    with torch.no_grad():
        i = 0
        for p in params:
            n = p.numel()
            p.copy_(flat[i : i + n].view_as(p))
            i += n


def trust_region_step(
    params: Sequence[Any],
    surrogate: Callable[[], Any],
    kl: Callable[[], Any],
    *,
    max_kl: float,
    cg_iters: int = 10,
    cg_damping: float = 0.1,
    line_search_steps: int = 15,
    line_search_coeff: float = 0.8,
    cg_residual_tol: float = 1e-10,
    fisher_kl: Callable[[], Any] | None = None,
) -> dict[str, float]:
    """One TRPO policy update of ``params`` in place.

    ``surrogate()`` is the objective to maximise at the current parameters; ``kl()`` the
    mean KL divergence from the fixed old policy to the current one (zero, with zero
    gradient, before the step), which the line search holds within ``max_kl``;
    ``fisher_kl()`` (default ``kl``) the KL whose Hessian gives the Fisher-vector
    products (e.g. on a subsample of the batch, which is cheaper). Returns statistics of the
    step (``accepted`` 1/0,
    ``step_fraction``, ``kl``, ``improvement``, ``expected_improvement``).
    """
    import torch

    params = [p for p in params if p.requires_grad]
    old = _flat([p.detach() for p in params]).clone()
    s0 = surrogate()
    g = _flat(torch.autograd.grad(s0, params, allow_unused=False)).detach()
    stats = {
        "accepted": 0.0,
        "step_fraction": 0.0,
        "kl": 0.0,
        "improvement": 0.0,
        "expected_improvement": 0.0,
    }
    if not torch.isfinite(g).all() or float(g.abs().max()) == 0.0:
        return stats
    grad_kl = _flat(torch.autograd.grad((fisher_kl or kl)(), params, create_graph=True))

    def fisher_vector(v):
        hv = torch.autograd.grad(torch.dot(grad_kl, v), params, retain_graph=True)
        return _flat(hv).detach() + cg_damping * v

    x = conjugate_gradient(fisher_vector, g, iters=cg_iters, residual_tol=cg_residual_tol)
    xfx = torch.dot(x, fisher_vector(x))
    if not torch.isfinite(xfx) or float(xfx) <= 0.0:
        return stats
    full_step = torch.sqrt(2.0 * max_kl / xfx) * x
    expected = float(torch.dot(g, full_step))
    stats["expected_improvement"] = expected
    base = float(s0.detach())
    with torch.no_grad():
        for k in range(int(line_search_steps)):
            frac = line_search_coeff**k
            _assign(params, old + frac * full_step)
            new_s, new_kl = float(surrogate()), float(kl())
            if (
                math.isfinite(new_s)
                and math.isfinite(new_kl)
                and new_kl <= max_kl
                and new_s - base > 0.0
            ):
                stats.update(accepted=1.0, step_fraction=frac, kl=new_kl, improvement=new_s - base)
                return stats
        _assign(params, old)
    return stats
