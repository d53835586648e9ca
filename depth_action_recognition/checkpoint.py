"""The model file: one ``.safetensors`` holding the student's weights and everything needed to serve it.

Metadata (a JSON document under the ``depth_action_recognition`` key of the safetensors header):
``format`` version, ``name``, ``student`` (the :class:`StudentConfig`), ``labels``, ``alarm_labels``,
``preprocess`` (the :class:`PreprocessSpec`), ``provenance`` (how it was trained) and ``metrics``.
safetensors cannot carry code, so loading a model never unpickles anything.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path


from .errors import CheckpointError, ConfigError
from .files import atomic_path
from .models import DepthStudent, StudentConfig, build_student
from .preprocess import PreprocessSpec

FORMAT = 'depth_action_recognition/checkpoint/1'
META_KEY = 'depth_action_recognition'


@dataclass
class ModelMeta:
    name: str
    labels: list
    alarm_labels: list
    student: StudentConfig
    preprocess: PreprocessSpec
    provenance: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def validate(self) -> None:
        if len(self.labels) != self.student.num_classes:
            raise CheckpointError(f'{len(self.labels)} labels but the head has {self.student.num_classes} outputs')
        if len(set(self.labels)) != len(self.labels):
            raise CheckpointError('labels are not unique')
        unknown = [a for a in self.alarm_labels if a not in self.labels]
        if unknown:
            raise CheckpointError(f'alarm labels {unknown} are not among the labels')

    @property
    def trained_fit(self) -> str:
        """The fit the weights were trained with: recorded when exported with another, else the served one."""
        return self.provenance.get('trained_fit', self.preprocess.crop)

    def to_json(self) -> str:
        return json.dumps({
            'format': FORMAT, 'name': self.name, 'labels': list(self.labels),
            'alarm_labels': list(self.alarm_labels), 'student': self.student.to_dict(),
            'preprocess': self.preprocess.to_dict(), 'provenance': self.provenance, 'metrics': self.metrics,
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> 'ModelMeta':
        d = json.loads(text)
        if d.get('format') != FORMAT:
            raise CheckpointError(f'metadata format {d.get("format")!r} is not {FORMAT!r}')
        try:
            return cls(name=d['name'], labels=list(d['labels']), alarm_labels=list(d['alarm_labels']),
                       student=StudentConfig.from_dict(d['student']),
                       preprocess=PreprocessSpec.from_dict(d['preprocess']),
                       provenance=d.get('provenance', {}), metrics=d.get('metrics', {}))
        except KeyError as e:
            raise CheckpointError(f'metadata lacks the field {e.args[0]!r}') from None
        except ConfigError as e:
            raise CheckpointError(f'metadata is invalid: {e}') from None


@dataclass
class LoadedModel:
    model: DepthStudent
    meta: ModelMeta
    path: Path
    sha256: str

    @property
    def short_id(self) -> str:
        """``name@hash8``: what events carry to say which model produced them."""
        return model_id(self.meta.name, self.sha256)


def save_checkpoint(path, model: DepthStudent, meta: ModelMeta) -> Path:
    """Write weights + metadata atomically (a crash never leaves a half-written model behind)."""
    from safetensors.torch import save_file
    meta.validate()
    if model.config != meta.student:
        raise CheckpointError('model config and metadata student config differ')
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: meta.to_json()})
    return path


def model_id(name: str, sha256: str) -> str:
    """``name@hash8`` of a model file whose SHA-256 is ``sha256``."""
    return f'{name}@{sha256[:8]}'


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def read_meta(path) -> ModelMeta:
    """Read and validate only the metadata (cheap: the header, not the weights)."""
    from safetensors import safe_open
    path = Path(path)
    _check_file(path)
    try:
        with safe_open(str(path), framework='pt') as f:
            header = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for a damaged header
        raise CheckpointError(f'{path}: not a readable safetensors file ({e})') from None
    if META_KEY not in header:
        raise CheckpointError(f'{path}: no {META_KEY!r} metadata; not a model of this package')
    try:
        meta = ModelMeta.from_json(header[META_KEY])
        meta.validate()
    except (CheckpointError, ValueError) as e:
        raise CheckpointError(f'{path}: {e}') from None
    return meta


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(f'{path}: model file not found')
    if not path.is_file():
        raise CheckpointError(f'{path}: not a file')
    with open(path, 'rb') as f:
        head = f.read(9)
    size = path.stat().st_size
    header_len = int.from_bytes(head[:8], 'little') if len(head) == 9 else -1
    if len(head) == 9 and head[8:9] == b'{' and 8 + header_len <= size:
        return
    if head[:1] == b'\x80' or head[:2] == b'PK':
        # A pickle (torch.save) or zip-pickle file: refuse before anything could unpickle it.
        raise CheckpointError(f'{path}: looks like a pickle/torch.save file; only .safetensors models are '
                              'loaded (pickles can run code)')
    raise CheckpointError(f'{path}: not a safetensors file (bad or truncated header)')


def load_checkpoint(path) -> LoadedModel:
    """Load a model for inference; every failure is a :class:`CheckpointError` naming the file."""
    from safetensors.torch import load_file
    path = Path(path)
    meta = read_meta(path)
    try:
        tensors = load_file(str(path))
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f'{path}: weights are unreadable ({e})') from None
    model = build_student(meta.student)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(f'{path}: weights do not match the {meta.student.arch} config '
                              f'({"; ".join(first[:3])})') from None
    model.eval()
    return LoadedModel(model=model, meta=meta, path=path, sha256=file_sha256(path))
