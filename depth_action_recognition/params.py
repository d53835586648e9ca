"""The recognizer's parameters: declared with descriptors (types, ranges, read-only), read, and checked.

Each parameter has one row in :data:`PARAMS`. Ranges go into the ``ParameterDescriptor``, so ``ros2
param describe`` shows them and rclpy refuses an out-of-range ``ros2 param set`` by itself; what a range
cannot say (``alarm_k <= alarm_n``, labels the model knows, a clip length of 0 or >= 8) is checked by
:func:`resolve` and :func:`alarm_config`, which name the parameter in every :class:`ConfigError`.

Parameters marked ``runtime`` (the alarm policy's) may change while the node runs; the others are fixed
once the node is configured: read-only on the plain node, refused while configured on the lifecycle
node (where they may still change between cleanup and the next configure).

Alarm labels, in order of precedence: ``alarm_labels`` when it is set (an empty list means no alarms);
else the ``labels_file`` preset's ``alarm_labels`` (an empty list there means no alarms too); else the
model's alarm classes. A ``labels_file`` is always checked against the model, whichever list wins.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from .alarm_policy import AlarmConfig
from .errors import ConfigError
from .smoothing import MAX_CLIPS


@dataclass(frozen=True)
class Param:
    type: str                       # rcl_interfaces ParameterType's name less 'PARAMETER_' (ROS is imported only
                                    # where a node is: the offline evaluation reads this table without rclpy)
    default: object                 # None: declared without a value (unset until someone sets it)
    description: str
    range: Optional[tuple] = None   # inclusive (low, high)
    runtime: bool = False           # may change while the node runs


PARAMS = {
    'depth_topics': Param('STRING_ARRAY', ['/camera/depth/image_raw'],
                          'depth image topics (sensor_msgs/Image 16UC1, 32FC1 or mono16)'),
    'model_path': Param('STRING', '', "student .safetensors file; '' = the packaged default model"),
    'device': Param('STRING', 'auto', "inference device: 'auto' (CUDA if available), 'cuda', 'cuda:N' "
                    "or 'cpu'"),
    'clip_length': Param('INTEGER', 0, 'frames per clip; 0 = what the model was trained on, else >= 8',
                         (0, 1024)),
    'stride': Param('INTEGER', 5, 'sampled frames between two inferences of one camera', (1, 1_000_000)),
    'target_fps': Param('DOUBLE', 0.0, "rate frames are sampled from each camera; 0 = the model's rate",
                        (0.0, 1000.0)),
    'score_threshold': Param('DOUBLE', 0.6, 'minimum winning score for a clip to count towards an alarm',
                             (0.0, 1.0), runtime=True),
    'alarm_labels': Param('STRING_ARRAY', None, "labels that raise alarms ([] = none); unset = the "
                          "labels_file preset's, else the model's alarm classes", runtime=True),
    'smooth_clips': Param('INTEGER', 2, "class probabilities of each event are the mean over this many "
                          "of the source's last clips (of one unbroken run); 1 = each clip alone", (1, MAX_CLIPS)),
    'alarm_k': Param('INTEGER', 1, 'an alarm is raised when its label wins in k of the last n clips '
                     '(k <= alarm_n; after smooth_clips averaging)', (1, 100), runtime=True),
    'alarm_n': Param('INTEGER', 1, 'window n of the k-of-n alarm rule', (1, 100), runtime=True),
    'clear_after_s': Param('DOUBLE', 3.0, 'an alarm clears after this long without its label',
                           (0.1, 3600.0), runtime=True),
    'cooldown_s': Param('DOUBLE', 4.0, 'minimum time between two raises of one alarm on one camera',
                        (0.0, 86400.0), runtime=True),
    'max_gap_s': Param('DOUBLE', 1.0, 'a longer gap between frames restarts the clip', (0.01, 60.0)),
    'max_future_s': Param('DOUBLE', 5.0, "frames stamped further than this ahead of (or behind) their "
                          "stream's own clock are dropped, unless the stream keeps to the new time", (0.1, 3600.0)),
    'max_sources_per_topic': Param('INTEGER', 4, 'streams (frame_id, encoding, size) buffered apart on '
                                   'one topic; a new one evicts the longest silent', (1, 64)),
    'reliability': Param('STRING', 'auto', "depth QoS reliability: 'auto' (match the publishers), "
                         "'reliable', 'best_effort'"),
    'qos_depth': Param('INTEGER', 5, 'keep-last depth of the depth subscriptions', (1, 100)),
    'max_batch': Param('INTEGER', 32, 'largest inference batch', (1, 256)),
    'flip_average': Param('BOOL', True, "classify each clip and its mirror image and average the two (twice the "
                          "arithmetic)"),
    'top_k': Param('INTEGER', 3, 'labels listed in each event (at most the number of labels)', (1, 100)),
    'diagnostics_period_s': Param('DOUBLE', 1.0, 'period of /diagnostics', (0.1, 3600.0)),
    'labels_file': Param('STRING', '', 'label preset YAML (labels, alarm_labels), e.g. '
                         'config/labels/ntu60.yaml: checked against the model; its alarms are the default '
                         'alarm_labels'),
    'cpu_fallback': Param('BOOL', True, 'reload the model on the CPU when CUDA fails (out of memory, '
                          'lost device)'),
}
RUNTIME_PARAMS = tuple(name for name, p in PARAMS.items() if p.runtime)
DEVICES = ('auto', 'cuda', 'cpu')
RELIABILITIES = ('auto', 'reliable', 'best_effort')


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f'parameter {name!r}: {message}')


def descriptor(name: str, *, read_only: bool):
    """The ``rcl_interfaces/ParameterDescriptor`` of parameter ``name``."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
    p = PARAMS[name]
    d = ParameterDescriptor(name=name, type=getattr(ParameterType, f'PARAMETER_{p.type}'), description=p.description,
                            read_only=read_only and not p.runtime)
    if p.range is not None:
        lo, hi = p.range
        if p.type == 'INTEGER':
            d.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=1)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    if not p.runtime:
        d.additional_constraints = 'fixed once the node is configured (restart, or cleanup and configure again)'
    return d


def declare(node, *, read_only: bool) -> None:
    """Declare every parameter on ``node``; a bad override (type, range) is a ConfigError naming it."""
    from rclpy.exceptions import ParameterException
    from rclpy.parameter import Parameter
    for name, p in PARAMS.items():
        # Unset parameters are declared by type alone (rclpy would type an empty list as bytes).
        value = Parameter.Type.STRING_ARRAY if p.default is None else p.default
        try:
            node.declare_parameter(name, value, descriptor(name, read_only=read_only))
        except ParameterException as e:
            allowed = f' (allowed: {p.range[0]} to {p.range[1]})' if p.range else ''
            raise ConfigError(f'parameter {name!r}: {e}{allowed}') from None


def read(node) -> dict:
    """Every parameter's current value; None for one that was never set (alarm_labels)."""
    from rclpy.exceptions import ParameterUninitializedException
    out = {}
    for name in PARAMS:
        try:
            out[name] = node.get_parameter(name).value
        except ParameterUninitializedException:
            out[name] = None
    return out


@dataclass(frozen=True)
class Settings:
    """The recognizer's configuration, checked and resolved against the model."""

    topics: tuple
    device: str
    clip_length: int
    stride: int
    fps: float
    max_gap_s: float
    max_future_s: float
    max_sources: int
    reliability: str
    qos_depth: int
    max_batch: int
    flip_average: bool
    smooth_clips: int
    top_k: int
    diagnostics_period_s: float
    cpu_fallback: bool
    preset_alarms: Optional[tuple]        # the labels_file's alarm_labels (None without a labels_file)
    alarm: AlarmConfig


def resolve(p: dict, loaded) -> Settings:
    """Check the values read by :func:`read` against each other and the loaded model."""
    labels = list(loaded.meta.labels)
    spec = loaded.meta.preprocess
    topics = list(p['depth_topics'])
    _require(len(topics) > 0, 'depth_topics', 'needs at least one topic')
    _require(len(set(topics)) == len(topics), 'depth_topics', f'has duplicates: {topics}')
    _require(all(t.strip() for t in topics), 'depth_topics', 'contains an empty topic name')
    device = p['device']
    _require(device in DEVICES or device.startswith('cuda:'), 'device',
             f"must be 'auto', 'cuda', 'cuda:N' or 'cpu', got {device!r}")
    clip_length = p['clip_length'] or spec.frames
    _require(clip_length >= 8, 'clip_length', f'must be 0 (model default) or >= 8, got {p["clip_length"]}')
    _require(p['reliability'] in RELIABILITIES, 'reliability',
             f"must be 'auto', 'reliable' or 'best_effort', got {p['reliability']!r}")
    _require(p['top_k'] <= len(labels), 'top_k', f'must be in 1..{len(labels)} (the model has {len(labels)} labels), '
             f'got {p["top_k"]}')
    preset = read_label_preset(p['labels_file'], loaded) if p['labels_file'] else None
    return Settings(topics=tuple(topics), device=device, clip_length=clip_length, stride=p['stride'],
                    fps=p['target_fps'] or spec.fps, max_gap_s=p['max_gap_s'], max_future_s=p['max_future_s'],
                    max_sources=p['max_sources_per_topic'], reliability=p['reliability'], qos_depth=p['qos_depth'],
                    max_batch=p['max_batch'], flip_average=p['flip_average'],
                    smooth_clips=p['smooth_clips'], top_k=p['top_k'],
                    diagnostics_period_s=p['diagnostics_period_s'],
                    cpu_fallback=p['cpu_fallback'], preset_alarms=preset,
                    alarm=alarm_config(p, loaded, preset))


def read_label_preset(path: str, loaded) -> tuple:
    """The alarm labels of a labels_file preset, after checking that it lists exactly the model's labels."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
        labels, alarms = list(doc['labels']), list(doc['alarm_labels'] or [])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
        raise ConfigError(f"parameter 'labels_file': {path}: not a label preset ({e})") from None
    model_labels = list(loaded.meta.labels)
    if labels != model_labels:
        diff = next((i for i, (a, b) in enumerate(zip(labels, model_labels)) if a != b),
                    min(len(labels), len(model_labels)))
        raise ConfigError(f"parameter 'labels_file': {path} lists {len(labels)} labels, the model "
                          f'{loaded.short_id} {len(model_labels)}; they differ from label {diff}')
    unknown = [a for a in alarms if a not in labels]
    if unknown:
        raise ConfigError(f"parameter 'labels_file': {path}: alarm_labels {unknown} are not among its labels")
    return tuple(alarms)


def alarm_config(p: dict, loaded, preset_alarms: Optional[tuple]) -> AlarmConfig:
    """The alarm policy's configuration from the runtime parameters (see the module docstring for labels)."""
    if p['alarm_labels'] is not None:
        labels = list(p['alarm_labels'])
    elif preset_alarms is not None:
        labels = list(preset_alarms)
    else:
        labels = list(loaded.meta.alarm_labels)
    unknown = [a for a in labels if a not in loaded.meta.labels]
    _require(not unknown, 'alarm_labels', f'{unknown} are not labels of the model {loaded.short_id}')
    _require(p['alarm_k'] <= p['alarm_n'], 'alarm_k', f'must be <= alarm_n ({p["alarm_n"]}), got {p["alarm_k"]}')
    try:
        return AlarmConfig(labels, threshold=p['score_threshold'], k=p['alarm_k'], n=p['alarm_n'],
                           clear_after_s=p['clear_after_s'], cooldown_s=p['cooldown_s'],
                           averaged=p['smooth_clips'])
    except ConfigError as e:
        named = {'score_threshold': 'score_threshold', 'clear_after_s': 'clear_after_s', 'cooldown_s': 'cooldown_s',
                 'averaged': 'smooth_clips'}         # AlarmConfig's word for a value -> the parameter that set it
        culprit = next((param for word, param in named.items() if word in str(e)), 'alarm_k')
        raise ConfigError(f'parameter {culprit!r}: {e}') from None
