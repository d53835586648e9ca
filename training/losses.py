"""Distillation losses, each a small module returning its named terms.

The training step adds the terms up with their weights where a reader can see it (training/distill.py):
``loss = sum(weights[k] * term for k, term in terms.items())``. Every module gets the same inputs:
``student`` (the depth network, for the losses that run part of it), ``x_s`` (the student's map at
the chosen stage, or its pooled embedding), ``logits_s``, the teacher's targets for the same view
(``map_t`` / ``emb_t``, ``logits_t``) and the labels ``y``.

* ``none`` — depth only: nothing beyond the student's cross-entropy.
* ``kd`` — Hinton's logit distillation: KL(teacher || student) at temperature T, times T^2.
* ``feat`` — FitNets-style hint: a projector maps the student's map (or embedding) into the teacher's
  space; MSE to the teacher's, both standardised by the teacher's per-channel statistics.
* ``mix`` — cross-modality mixing distillation (our formulation of Kim et al. 2024, see
  training/README.md): student and teacher feature maps of the same view are mixed by a linear
  combination ``lam * a + (1 - lam) * b``, lam ~ Beta(alpha, alpha) per clip, at an intermediate stage,
  and the mixture runs through *non-linear* remaining stages before a classifier:
  ``s2t``: the projected student map into the frozen teacher's remaining stages and head;
  ``t2s``: the projected teacher map into the student's own remaining stages and head (the student's
  later layers learn from RGB-informed features; serving, lam = 1, sees depth only). Plus logit KD.
  Mixing pooled embeddings is not offered: the head is affine, so mixing the inputs of a linear head
  is mixing its logits, and a free projector in front of it is only an extra classifier.
"""
from __future__ import annotations

import contextlib
import copy

import torch
import torch.nn.functional as F
from torch import nn

METHODS = ('none', 'kd', 'feat', 'mix')
DIRECTIONS = ('s2t', 't2s', 'both')


def kd_loss(logits_s: torch.Tensor, logits_t: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(t/T) || softmax(s/T)) * T^2; zero when the logits are identical."""
    t = temperature
    return F.kl_div(F.log_softmax(logits_s / t, 1), F.log_softmax(logits_t / t, 1), reduction='batchmean',
                    log_target=True) * t * t


def resize_map(x: torch.Tensor, size) -> torch.Tensor:
    """A (N, C, T, H, W) map on another grid: averaged where it shrinks, interpolated where it grows."""
    size = tuple(int(s) for s in size)
    if tuple(x.shape[2:]) == size:
        return x
    if all(a >= b for a, b in zip(x.shape[2:], size)):
        return F.adaptive_avg_pool3d(x, size)
    return F.interpolate(x, size=size, mode='trilinear', align_corners=False)


def channel_stats(x: torch.Tensor, eps: float = 1e-5) -> tuple:
    """Per-channel mean and standard deviation of a (N, C, ...) map over everything but the channels."""
    dims = [0] + list(range(2, x.dim()))
    return x.mean(dims), (x.var(dims, unbiased=False) + eps).sqrt()


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(1, -1, *[1] * (like.dim() - 2)).to(like.dtype)


class MapProjector(nn.Module):
    """Channels of one network's map -> channels of the other's, standardised to given statistics.

    A 1x1x1 convolution without bias recombines channels at each place and moment and nothing else (it
    has no spatial or temporal reach, so it cannot do the work of the stages it feeds), and a
    BatchNorm without affine parameters standardises its output. The result is then given the
    *target's* per-channel mean and spread, which the projector cannot change: it cannot shrink its
    map to let the other modality's dominate a mixture, blow it up to drown it, or drift from the
    statistics the frozen stages behind it were trained on. The mixture stays a true interpolation
    between two maps of the same scale.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv3d(c_in, c_out, 1, bias=False)
        self.norm = nn.BatchNorm3d(c_out, affine=False, eps=1e-6)

    def forward(self, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        z = self.norm(self.conv(x))
        return z * _bcast(std, z) + _bcast(mean, z)


@contextlib.contextmanager
def frozen_bn_statistics(module: nn.Module):
    """Forward passes inside keep BatchNorm's running statistics as they are (batch statistics still
    normalise): mixed maps must not leak into the statistics the depth-only network serves with."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, mom in zip(norms, saved):
            m.momentum = mom


def sample_lambda(n: int, alpha: float, device) -> torch.Tensor:
    a = torch.tensor(float(alpha), device=device)
    return torch.distributions.Beta(a, a).sample((n,))


def mix(lam: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``lam * a + (1 - lam) * b`` per sample."""
    lam = lam.reshape(-1, *[1] * (a.dim() - 1)).to(a.dtype)
    return lam * a + (1 - lam) * b


class NoDistill(nn.Module):
    def forward(self, student, x_s, logits_s, t, y) -> dict:
        return {}


class LogitKD(nn.Module):
    def __init__(self, temperature: float = 4.0):
        super().__init__()
        self.temperature = temperature

    def forward(self, student, x_s, logits_s, t, y) -> dict:
        return {'kd': kd_loss(logits_s, t['logits'], self.temperature)}


class FeatureKD(nn.Module):
    """FitNets-style hint at the stage's map (a 1x1x1 convolution regressor) or the pooled embedding
    (a linear one). Targets are standardised per channel by the teacher's statistics over the training
    set (``t_mean``, ``t_std``), so the loss weight does not depend on the teacher's feature scale."""

    def __init__(self, c_s: int, c_t: int, t_mean: torch.Tensor, t_std: torch.Tensor, on_map: bool):
        super().__init__()
        self.proj = nn.Conv3d(c_s, c_t, 1) if on_map else nn.Linear(c_s, c_t)
        self.register_buffer('t_mean', t_mean.float().clone())
        self.register_buffer('t_std', t_std.float().clone())

    def forward(self, student, x_s, logits_s, t, y) -> dict:
        target = t['map'] if x_s.dim() == 5 else t['emb']
        p = self.proj(x_s)
        if p.dim() == 5:
            p = resize_map(p, target.shape[2:])
        mean, std = _bcast(self.t_mean, p), _bcast(self.t_std, p)
        return {'feat': F.mse_loss((p - mean) / std, (target.to(p.dtype) - mean) / std)}


class MixDistill(nn.Module):
    """Cross-modality mixing at the feature maps after residual stage ``stage`` (see the module doc).

    ``rest_t`` and ``head_t`` are the frozen teacher's remaining stages (pooling included) and its
    classifier; the student's remaining stages are the student's own, passed in at each call, so the
    ``t2s`` term trains them. ``t_mean``/``t_std``: per-channel statistics of the teacher's maps at this
    stage over the training set, the target scale of the student-to-teacher projector.
    """

    def __init__(self, c_s: int, c_t: int, stage: int, rest_t: nn.Module, head_t: nn.Linear,
                 t_mean: torch.Tensor, t_std: torch.Tensor, *, alpha: float = 1.0, temperature: float = 4.0,
                 direction: str = 'both'):
        super().__init__()
        if direction not in DIRECTIONS:
            raise ValueError(f'mix direction must be one of {DIRECTIONS}, got {direction!r}')
        self.stage, self.alpha, self.temperature, self.direction = stage, alpha, temperature, direction
        self.s2t = MapProjector(c_s, c_t) if direction in ('s2t', 'both') else None
        self.t2s = MapProjector(c_t, c_s) if direction in ('t2s', 'both') else None
        self.rest_t = copy.deepcopy(rest_t).requires_grad_(False).eval()
        self.head_t = copy.deepcopy(head_t).requires_grad_(False).eval()
        self.register_buffer('t_mean', t_mean.float().clone())
        self.register_buffer('t_std', t_std.float().clone())

    def train(self, mode: bool = True):
        super().train(mode)
        self.rest_t.eval()          # the teacher's BatchNorm statistics stay the teacher's
        self.head_t.eval()
        return self

    def forward(self, student, x_s, logits_s, t, y, lam=None) -> dict:
        map_t = t['map'].to(x_s.dtype)
        lam = sample_lambda(len(y), self.alpha, x_s.device) if lam is None else lam
        terms = {'kd': kd_loss(logits_s, t['logits'], self.temperature)}
        if self.s2t is not None:
            p = resize_map(self.s2t(x_s, self.t_mean, self.t_std), map_t.shape[2:])
            terms['mix_s2t'] = F.cross_entropy(self.head_t(self.rest_t(mix(lam, p, map_t))), y)
        if self.t2s is not None:
            mean_s, std_s = (v.detach() for v in channel_stats(x_s))
            p = resize_map(self.t2s(map_t, mean_s, std_s), x_s.shape[2:])
            with frozen_bn_statistics(student):
                feat = student.forward_from(mix(lam, x_s, p), self.stage)
            terms['mix_t2s'] = F.cross_entropy(student.head(student.dropout(feat)), y)
        return terms


def build_distill(method: str, *, c_s: int, stats_t: dict | None = None, stage: int = 0,
                  rest_t: nn.Module | None = None, head_t: nn.Linear | None = None, alpha: float = 1.0,
                  temperature: float = 4.0, direction: str = 'both') -> nn.Module:
    """The one place a method name becomes a module.

    ``stage``: 0 for the pooled embedding, 2 or 3 for the map after that residual stage; ``stats_t``:
    {'mean', 'std'} of the teacher's features there (training.cache.teacher_statistics).
    """
    if method == 'none':
        return NoDistill()
    if method == 'kd':
        return LogitKD(temperature)
    if method == 'feat':
        return FeatureKD(c_s, len(stats_t['mean']), stats_t['mean'], stats_t['std'], on_map=stage > 0)
    if method == 'mix':
        if not stage:
            raise ValueError('mix needs a feature-map stage (2 or 3): mixing pooled embeddings in front of a '
                             'linear head is the same as mixing logits')
        return MixDistill(c_s, len(stats_t['mean']), stage, rest_t, head_t, stats_t['mean'], stats_t['std'],
                          alpha=alpha, temperature=temperature, direction=direction)
    raise ValueError(f'unknown --method {method!r}; expected one of {METHODS}')
