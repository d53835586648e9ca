"""RGB video teachers: torchvision's Kinetics-400 models, or a small RGB network for CPU-only work.

Every teacher is wrapped as :class:`Teacher`: ``features(x)`` -> (N, D) clip embedding and ``head``
(a ``Linear(D, classes)``), because cross-modality mixing needs the teacher's classifier on its own.

Kinetics weights are never downloaded here: they are used when the file torchvision would download is
already in the torch hub cache, or when ``--teacher-weights PATH`` names it; otherwise the error says
exactly which file to put where.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from depth_action_recognition.models import StudentConfig, build_student

# name: (torchvision builder, weights enum name, feature dim, attribute holding the classifier)
TORCHVISION = {
    'r3d_18': ('r3d_18', 'R3D_18_Weights', 512, 'fc'),
    'r2plus1d_18': ('r2plus1d_18', 'R2Plus1D_18_Weights', 512, 'fc'),
    'mc3_18': ('mc3_18', 'MC3_18_Weights', 512, 'fc'),
    's3d': ('s3d', 'S3D_Weights', 1024, 'classifier'),
    'mvit_v2_s': ('mvit_v2_s', 'MViT_V2_S_Weights', 768, 'head'),
    'swin3d_t': ('swin3d_t', 'Swin3D_T_Weights', 768, 'head'),
}
# Small RGB teachers from the package's own video ResNet: CPU-trainable stand-ins for the zoo.
SMALL = {
    'rgb_small': dict(arch='r2plus1d', widths=(24, 48, 96, 192), layers=(1, 1, 1, 1)),
    'rgb_r3d': dict(arch='r3d', widths=(32, 64, 128, 256), layers=(2, 2, 2, 2)),
}
TEACHERS = sorted(TORCHVISION) + sorted(SMALL)
RESNET_STYLE = ('mc3_18', 'r2plus1d_18', 'r3d_18') + tuple(sorted(SMALL))


class TeacherError(ValueError):
    """A teacher cannot be built (unknown name, weights missing offline, wrong file)."""


class Teacher(nn.Module):
    def __init__(self, name: str, backbone: nn.Module, dim: int, num_classes: int):
        super().__init__()
        self.name, self.backbone, self.dim = name, backbone, dim
        self.head = nn.Linear(dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @property
    def has_stages(self) -> bool:
        """ResNet-style teachers (four residual stages) have feature maps to distil or mix at."""
        b = self.backbone
        return isinstance(b, _SmallBackbone) or all(hasattr(b, f'layer{i}') for i in range(1, 5))

    def _parts(self) -> tuple:
        b = self.backbone
        if isinstance(b, _SmallBackbone):
            return b.net.stem, list(b.net.stages), b.net.pool
        if self.has_stages:                                          # torchvision VideoResNet
            return b.stem, [b.layer1, b.layer2, b.layer3, b.layer4], b.avgpool
        raise TeacherError(f'teacher {self.name!r} has no residual stages to distil or mix at; '
                           f'use a ResNet-style teacher ({", ".join(RESNET_STYLE)}) or --stage embedding')

    def split(self, stage: int) -> tuple:
        """(trunk, rest): ``trunk(x)`` is the feature map after residual stage ``stage`` (1-4) and
        ``rest(map)`` the pooled embedding from it, so ``head(rest(trunk(x)))`` equals ``forward(x)``.
        Mixing at an earlier feature map needs this; only ResNet-style teachers (four stages) have it."""
        stem, stages, pool = self._parts()
        if not 1 <= stage <= 4:
            raise TeacherError(f'stage must be 1-4, got {stage}')
        return nn.Sequential(stem, *stages[:stage]), nn.Sequential(*stages[stage:], pool, nn.Flatten(1))

    def outputs(self, x: torch.Tensor, stages=()) -> dict:
        """One pass: {'logits', 'emb'} and, for each stage in ``stages``, its map under 'map{stage}'."""
        if not stages:
            emb = self.features(x)
            return {'emb': emb, 'logits': self.head(emb)}
        stem, blocks, pool = self._parts()
        out, m = {}, stem(x)
        for k, block in enumerate(blocks, 1):
            m = block(m)
            if k in stages:
                out[f'map{k}'] = m
        out['emb'] = pool(m).flatten(1)
        out['logits'] = self.head(out['emb'])
        return out


class _SmallBackbone(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.forward_features(x)


def kinetics_weights_file(name: str) -> Path:
    """Where torchvision keeps (would download) the Kinetics-400 weights of ``name``."""
    import torchvision.models.video as tvv
    enum = getattr(tvv, TORCHVISION[name][1])
    url = enum.DEFAULT.url
    return Path(torch.hub.get_dir()) / 'checkpoints' / url.rsplit('/', 1)[-1]


def build_teacher(name: str, num_classes: int, weights: str | None = None, in_channels: int = 3) -> Teacher:
    """``weights``: None (random init), 'kinetics' (from the torch hub cache), or a path to a state dict."""
    if name in SMALL:
        if weights == 'kinetics':
            raise TeacherError(f'teacher {name!r} has no Kinetics weights; pre-train it with training.train_teacher')
        net = build_student(StudentConfig(**SMALL[name], in_channels=in_channels, num_classes=num_classes, dropout=0.0))
        t = Teacher(name, _SmallBackbone(net), net.config.feature_dim, num_classes)
        if weights:
            load_teacher_state(t, weights)
        return t
    if name not in TORCHVISION:
        raise TeacherError(f'unknown teacher {name!r}; expected one of {TEACHERS}')
    if in_channels != 3:
        raise TeacherError(f'torchvision teacher {name!r} takes RGB (3 channels), not {in_channels}')
    import torchvision.models.video as tvv
    builder, _, dim, attr = TORCHVISION[name]
    model = getattr(tvv, builder)(weights=None)
    state = None
    if weights == 'kinetics':
        path = kinetics_weights_file(name)
        if not path.is_file():
            raise TeacherError(
                f'Kinetics-400 weights for {name} are not in the local torch cache and cannot be downloaded here. '
                f'Copy the file {path.name} (torchvision {TORCHVISION[name][1]}.DEFAULT) to {path} '
                f'or pass --teacher-weights /path/to/{path.name}')
        state = path
    elif weights:
        state = Path(weights)
    if state is not None:
        sd = _read_state(state)
        if any(k.startswith('backbone.') for k in sd):        # a Teacher saved by train_teacher
            t = Teacher(name, model, dim, num_classes)
            setattr(model, attr, nn.Identity())
            _load(t, sd, state)
            return t
        try:
            missing = model.load_state_dict(sd, strict=False)
        except RuntimeError as e:
            raise TeacherError(f'{state}: not {name} weights ({str(e).splitlines()[1].strip()} ...)') from None
        if missing.missing_keys:
            raise TeacherError(f'{state}: not {name} weights (missing {missing.missing_keys[:3]} ...)')
    kinetics_head = getattr(model, attr)
    setattr(model, attr, nn.Identity())
    t = Teacher(name, model, dim, num_classes)
    if state is not None and num_classes == 400:   # keep the Kinetics classifier when the classes are Kinetics'
        lin = kinetics_head[-1] if isinstance(kinetics_head, nn.Sequential) else kinetics_head
        with torch.no_grad():
            t.head.weight.copy_(lin.weight.reshape(400, -1))
            t.head.bias.copy_(lin.bias)
    return t


def _read_state(path: Path) -> dict:
    if not path.is_file():
        raise TeacherError(f'--teacher-weights {path}: file not found')
    try:
        if path.suffix == '.safetensors':
            from safetensors.torch import load_file
            return load_file(str(path))
        return torch.load(path, map_location='cpu', weights_only=True)   # never arbitrary unpickling
    except Exception as e:  # noqa: BLE001
        raise TeacherError(f'--teacher-weights {path}: unreadable ({e})') from None


def _load(t: Teacher, sd: dict, path) -> None:
    try:
        t.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise TeacherError(f'{path}: does not fit teacher {t.name} with {t.head.out_features} classes '
                           f'({str(e).splitlines()[0]})') from None


def load_teacher_state(t: Teacher, path) -> None:
    _load(t, _read_state(Path(path)), path)
