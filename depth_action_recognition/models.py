"""Depth student architectures, rebuilt at runtime from the config stored in the checkpoint.

One residual video network with two block types covers both students the project needs:
``r2plus1d`` factorises each 3x3x3 convolution into a spatial 1x3x3 and a temporal 3x1x1 one (cheap,
the efficient default), ``r3d`` keeps full 3D convolutions (the r3d_18-style large student, one input
channel). The config is a dataclass saved inside the checkpoint, so serving never imports training code.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from .errors import ConfigError

ARCHS = ('r2plus1d', 'r3d')


@dataclass(frozen=True)
class StudentConfig:
    arch: str = 'r2plus1d'
    widths: tuple = (16, 32, 64, 128)
    layers: tuple = (1, 1, 1, 1)
    in_channels: int = 1
    num_classes: int = 14
    dropout: float = 0.2

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ConfigError(f'unknown student arch {self.arch!r}; expected one of {ARCHS}')
        if len(self.widths) != 4 or len(self.layers) != 4:
            raise ConfigError('student widths and layers need 4 entries (one per stage)')
        if self.num_classes < 2:
            raise ConfigError(f'num_classes must be >= 2, got {self.num_classes}')
        object.__setattr__(self, 'widths', tuple(int(w) for w in self.widths))
        object.__setattr__(self, 'layers', tuple(int(n) for n in self.layers))

    @property
    def feature_dim(self) -> int:
        return self.widths[-1]

    def channels_at(self, stage: int | None) -> int:
        """Channels of the feature map after residual stage ``stage`` (None: the pooled embedding)."""
        return self.widths[stage - 1] if stage else self.feature_dim

    def to_dict(self) -> dict:
        d = asdict(self)
        d['widths'], d['layers'] = list(self.widths), list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> 'StudentConfig':
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f'unknown student config fields: {sorted(unknown)}')
        return cls(**d)


# Named presets: the efficient default and the large r3d_18-style student.
PRESETS = {
    'tiny': dict(arch='r2plus1d', widths=(16, 32, 64, 128), layers=(1, 1, 1, 1)),
    'small': dict(arch='r2plus1d', widths=(24, 48, 96, 192), layers=(1, 1, 1, 1)),
    'r3d18': dict(arch='r3d', widths=(64, 128, 256, 512), layers=(2, 2, 2, 2)),
}


def preset(name: str, *, num_classes: int, **overrides) -> StudentConfig:
    if name not in PRESETS:
        raise ConfigError(f'unknown student {name!r}; expected one of {sorted(PRESETS)}')
    return StudentConfig(**{**PRESETS[name], 'num_classes': num_classes, **overrides})


def _conv(arch: str, cin: int, cout: int, stride: tuple) -> nn.Module:
    st, ss = stride
    if arch == 'r3d':
        return nn.Conv3d(cin, cout, 3, stride=(st, ss, ss), padding=1, bias=False)
    return nn.Sequential(
        nn.Conv3d(cin, cout, (1, 3, 3), stride=(1, ss, ss), padding=(0, 1, 1), bias=False),
        nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
        nn.Conv3d(cout, cout, (3, 1, 1), stride=(st, 1, 1), padding=(1, 0, 0), bias=False),
    )


class Block(nn.Module):
    def __init__(self, arch: str, cin: int, cout: int, stride: tuple):
        super().__init__()
        self.conv1 = nn.Sequential(_conv(arch, cin, cout, stride), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(_conv(arch, cout, cout, (1, 1)), nn.BatchNorm3d(cout))
        self.down = None
        if cin != cout or stride != (1, 1):
            st, ss = stride
            self.down = nn.Sequential(nn.Conv3d(cin, cout, 1, stride=(st, ss, ss), bias=False), nn.BatchNorm3d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


class DepthStudent(nn.Module):
    """(N, C, T, H, W) depth clip -> logits; :meth:`forward_features` gives the pooled clip embedding."""

    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = config
        w = config.widths
        # The stem keeps time and halves space: depth clips are short (16 frames) and low-res already.
        self.stem = nn.Sequential(
            nn.Conv3d(config.in_channels, w[0], (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2), bias=False),
            nn.BatchNorm3d(w[0]), nn.ReLU(inplace=True))
        stages, cin = [], w[0]
        for i, (cout, n) in enumerate(zip(w, config.layers)):
            stride = (1, 1) if i == 0 else (2, 2)
            blocks = [Block(config.arch, cin, cout, stride)]
            blocks += [Block(config.arch, cout, cout, (1, 1)) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.feature_dim, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x))).flatten(1)

    def forward_with_map(self, x: torch.Tensor, stage: int | None) -> tuple:
        """(feature map after residual stage ``stage``, pooled clip embedding): one pass, for training
        losses that work on an intermediate map. ``stage`` None: the embedding stands for the map."""
        if not stage:
            f = self.forward_features(x)
            return f, f
        m = self.stages[:stage](self.stem(x))
        return m, self.forward_from(m, stage)

    def forward_from(self, m: torch.Tensor, stage: int) -> torch.Tensor:
        """Pooled clip embedding from a feature map after residual stage ``stage`` (the rest of the trunk)."""
        return self.pool(self.stages[stage:](m)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.forward_features(x)))


def build_student(config: StudentConfig) -> DepthStudent:
    return DepthStudent(config)


def count_flops(model: nn.Module, input_shape: tuple) -> float:
    """FLOPs (2 x multiply-accumulates) of convolutions and linear layers for one input of this shape."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv3d):
            k = module.in_channels // module.groups
            for s in module.kernel_size:
                k *= s
            total += 2 * output.numel() * k
        elif isinstance(module, nn.Linear):
            total += 2 * output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((1,) + tuple(input_shape)))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return float(total)
