"""Helpers shared by the benchmarks: environment guards and an untrained student of the default shape."""
import os
import random
import resource  # noqa: F401  (Linux only; benchmarks run on Linux)
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def report_suffix(device: str) -> str:
    """What bench/stream_accuracy.py appends to a report's name for the model's device (nothing for the CPU)."""
    return '' if device == 'cpu' else f'_{device}'


def report_setting(stem: str) -> tuple:
    """(setting, device) of a stream report's file name stem: the inverse of :func:`report_suffix`."""
    for device in ('cuda', 'auto'):
        if stem.endswith(report_suffix(device)):
            return stem[:-len(report_suffix(device))], device
    return stem, 'cpu'


def report_prefix(model_id: str) -> str:
    """What bench/stream_accuracy.py puts in front of a report's name: the model's id (``name@8hex``) with its
    '@' written '-', then '_'. bench/model_gain.py takes it off again to pair two models' reports."""
    return model_id.replace('@', '-') + '_'


def loopback_dds():
    """DDS on loopback and a domain of our own, before rclpy is imported."""
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 100)))


def rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def make_student_file(path, preset_name='tiny', labels=None, spec=None):
    """An untrained student in the runtime format: the speed of a model does not depend on its training."""
    import torch
    from depth_action_recognition.checkpoint import ModelMeta, save_checkpoint
    from depth_action_recognition.models import build_student, preset
    from depth_action_recognition.preprocess import PreprocessSpec
    from depth_action_recognition.synthetic import ALARM_LABELS, LABELS
    labels = labels or LABELS
    torch.manual_seed(0)
    config = preset(preset_name, num_classes=len(labels))
    meta = ModelMeta(name=f'bench-{preset_name}', labels=list(labels), alarm_labels=list(ALARM_LABELS),
                     student=config, preprocess=spec or PreprocessSpec(), provenance={'untrained': True})
    return save_checkpoint(path, build_student(config), meta)
