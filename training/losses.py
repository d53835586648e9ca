"""Distillation losses, each a small module returning its named terms.

The training loop adds the terms up with their weights where a reader can see it:
``loss = sum(weights[k] * term for k, term in terms.items())``.

* ``none`` — depth only: nothing beyond the student's cross-entropy.
* ``kd`` — Hinton's logit distillation: KL(teacher || student) at temperature T, times T^2.
* ``feat`` — FitNets-style: a projector maps student features into the teacher's space; MSE to them.
* ``mix`` — cross-modality mixing distillation (our formulation of Kim et al. 2024, see training/README):
  f_mix = lambda * P(f_s) + (1 - lambda) * f_t, lambda ~ Beta(alpha, alpha) per sample, classified by the
  frozen teacher head: CE(head_t(f_mix), y), plus logit KD. Depth and RGB features interact through a
  linear combination, and the student's features must live where the teacher's classifier works.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def kd_loss(logits_s: torch.Tensor, logits_t: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(t/T) || softmax(s/T)) * T^2; zero when the logits are identical."""
    t = temperature
    return F.kl_div(F.log_softmax(logits_s / t, 1), F.log_softmax(logits_t / t, 1), reduction='batchmean',
                    log_target=True) * t * t


class NoDistill(nn.Module):
    def forward(self, feat_s, logits_s, feat_t, logits_t, y) -> dict:
        return {}


class LogitKD(nn.Module):
    def __init__(self, temperature: float = 4.0):
        super().__init__()
        self.temperature = temperature

    def forward(self, feat_s, logits_s, feat_t, logits_t, y) -> dict:
        return {'kd': kd_loss(logits_s, logits_t, self.temperature)}


class FeatureKD(nn.Module):
    def __init__(self, dim_s: int, dim_t: int):
        super().__init__()
        self.proj = nn.Linear(dim_s, dim_t)

    def forward(self, feat_s, logits_s, feat_t, logits_t, y) -> dict:
        return {'feat': F.mse_loss(self.proj(feat_s), feat_t)}


class MixDistill(nn.Module):
    """Cross-modality mixing: the teacher's head must classify mixtures of projected depth and RGB features."""

    def __init__(self, dim_s: int, head_t: nn.Linear, alpha: float = 1.0, temperature: float = 4.0):
        super().__init__()
        self.proj = nn.Linear(dim_s, head_t.in_features)
        self.head_t = nn.Linear(head_t.in_features, head_t.out_features)
        self.head_t.load_state_dict(head_t.state_dict())
        self.head_t.requires_grad_(False)          # the teacher stays frozen, its head included
        self.alpha, self.temperature = alpha, temperature

    def sample_lambda(self, n: int, device) -> torch.Tensor:
        a = torch.tensor(float(self.alpha), device=device)
        return torch.distributions.Beta(a, a).sample((n,))

    def forward(self, feat_s, logits_s, feat_t, logits_t, y, lam=None) -> dict:
        lam = self.sample_lambda(len(y), feat_s.device) if lam is None else lam
        lam = lam.reshape(-1, 1).to(feat_s.dtype)
        f_mix = lam * self.proj(feat_s) + (1 - lam) * feat_t.detach()
        return {'mix': F.cross_entropy(self.head_t(f_mix), y), 'kd': kd_loss(logits_s, logits_t, self.temperature)}


METHODS = ('none', 'kd', 'feat', 'mix')


def build_distill(method: str, *, dim_s: int, dim_t: int, head_t: nn.Linear | None, alpha: float,
                  temperature: float) -> nn.Module:
    """The one place a method name becomes a module."""
    if method == 'none':
        return NoDistill()
    if method == 'kd':
        return LogitKD(temperature)
    if method == 'feat':
        return FeatureKD(dim_s, dim_t)
    if method == 'mix':
        return MixDistill(dim_s, head_t, alpha, temperature)
    raise ValueError(f'unknown --method {method!r}; expected one of {METHODS}')
