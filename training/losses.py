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
  ``--mix-at stageK`` mixes the feature maps after residual stage K instead of the pooled embeddings.
"""
from __future__ import annotations

import copy

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
    """Cross-modality mixing: the teacher's head must classify mixtures of projected depth and RGB features.

    By default the features are the pooled clip embeddings (``--mix-at embedding``). With ``rest_t`` (the
    teacher's stages after an intermediate one, from ``Teacher.split``) they are feature maps instead
    (``--mix-at stageK``): the projector is a 1x1x1 convolution, the student's map is pooled to the
    teacher's grid, and the mixture goes through the frozen remaining teacher stages before its head, so
    RGB and depth interact while space and time are still resolved.
    """

    def __init__(self, dim_s: int, dim_t: int, head_t: nn.Linear, alpha: float = 1.0, temperature: float = 4.0,
                 rest_t: nn.Module | None = None):
        super().__init__()
        self.proj = nn.Linear(dim_s, dim_t) if rest_t is None else nn.Conv3d(dim_s, dim_t, 1)
        self.head_t = copy.deepcopy(head_t)
        self.rest_t = copy.deepcopy(rest_t)
        for m in (self.head_t, self.rest_t):    # the teacher stays frozen: head, stages and BN statistics
            if m is not None:
                m.requires_grad_(False).eval()
        self.alpha, self.temperature = alpha, temperature

    def train(self, mode: bool = True):
        super().train(mode)
        if self.rest_t is not None:
            self.rest_t.eval()
        return self

    def sample_lambda(self, n: int, device) -> torch.Tensor:
        a = torch.tensor(float(self.alpha), device=device)
        return torch.distributions.Beta(a, a).sample((n,))

    def forward(self, feat_s, logits_s, feat_t, logits_t, y, lam=None) -> dict:
        lam = self.sample_lambda(len(y), feat_s.device) if lam is None else lam
        p = self.proj(feat_s)
        if self.rest_t is not None:
            p = F.adaptive_avg_pool3d(p, feat_t.shape[2:])
        lam = lam.reshape(-1, *[1] * (p.dim() - 1)).to(p.dtype)
        f_mix = lam * p + (1 - lam) * feat_t.detach().to(p.dtype)
        if self.rest_t is not None:
            f_mix = self.rest_t(f_mix)
        return {'mix': F.cross_entropy(self.head_t(f_mix), y), 'kd': kd_loss(logits_s, logits_t, self.temperature)}


METHODS = ('none', 'kd', 'feat', 'mix')


def build_distill(method: str, *, dim_s: int, dim_t: int, head_t: nn.Linear | None, alpha: float,
                  temperature: float, rest_t: nn.Module | None = None) -> nn.Module:
    """The one place a method name becomes a module. ``rest_t``: mix feature maps (see MixDistill)."""
    if method == 'none':
        return NoDistill()
    if method == 'kd':
        return LogitKD(temperature)
    if method == 'feat':
        return FeatureKD(dim_s, dim_t)
    if method == 'mix':
        return MixDistill(dim_s, dim_t, head_t, alpha, temperature, rest_t)
    raise ValueError(f'unknown --method {method!r}; expected one of {METHODS}')
