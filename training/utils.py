"""Shared pieces of the training scripts: seeding, devices, DDP, evaluation, plots, config files."""
from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml

from depth_action_recognition.engine import resolve_device
from depth_action_recognition.errors import ConfigError


def pick_device(name: str):
    """The runtime's device picker (one definition); a device that cannot be had ends the script with one line."""
    try:
        return resolve_device(name)
    except ConfigError as e:
        print(f'--device {name}: {e}', file=sys.stderr)
        raise SystemExit(2) from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def ddp_setup(device: torch.device):
    """Under torchrun: join the process group (gloo on CPU, nccl on GPUs). Returns (rank, world_size)."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return 0, 1
    rank = int(os.environ['RANK'])
    if device.type == 'cuda':
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
    dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    return rank, world


def apply_yaml_defaults(parser, argv) -> None:
    """``--config FILE`` only sets defaults: flags on the command line still win."""
    pre, _ = parser.parse_known_args(argv)
    if getattr(pre, 'config', None):
        doc = yaml.safe_load(Path(pre.config).read_text()) or {}
        actions = {a.dest: a for a in parser._actions}
        unknown = [k for k in doc if k.replace('-', '_') not in actions]
        if unknown:
            raise SystemExit(f'--config {pre.config}: unknown keys {unknown}')
        # argparse checks `choices` only for values given on the command line, never for defaults. A flag's own
        # default passes (a run's written config.yaml holds every flag, `benchmark: null` among them).
        for k, v in doc.items():
            action = actions[k.replace('-', '_')]
            if action.choices is not None and v != action.default and v not in action.choices:
                raise SystemExit(f'--config {pre.config}: {k}: {v!r} is not one of {list(action.choices)}')
        parser.set_defaults(**{k.replace('-', '_'): v for k, v in doc.items()})


def save_config(args, out: Path) -> dict:
    cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    (out / 'config.yaml').write_text(yaml.safe_dump(cfg, sort_keys=True))
    return cfg


@torch.inference_mode()
def predict(forward, loader, device, key: str) -> tuple:
    """Run ``forward`` over a loader; returns (logits (N, C), labels (N,)) as numpy."""
    logits, labels = [], []
    for batch in loader:
        logits.append(forward(batch[key].to(device)).float().cpu())
        labels.append(torch.as_tensor(batch['label']))
    return torch.cat(logits).numpy(), torch.cat(labels).numpy()


def same_shape_batches(ds, batch_size: int, key: str) -> list:
    """Index batches of ``ds`` (at most ``batch_size`` each) whose ``key`` tensors share one shape, in order of
    first appearance: clips fitted by 'extend' take the width of their camera's aspect, and a batch is one
    tensor. With one shape, the plain consecutive batches."""
    groups: dict = {}
    items = getattr(ds, 'items', None)          # an in-memory set (a list): its shapes without converting every clip
    items = items if isinstance(items, list) else None
    for i in range(len(ds)):
        groups.setdefault(tuple((items[i] if items is not None else ds[i])[key].shape), []).append(i)
    return [ix[s:s + batch_size] for ix in groups.values() for s in range(0, len(ix), batch_size)]


def classification_metrics(logits: np.ndarray, labels: np.ndarray, names: list) -> dict:
    pred = logits.argmax(1)
    k = min(5, logits.shape[1])
    top5 = np.any(np.argsort(-logits, 1)[:, :k] == labels[:, None], axis=1)
    conf = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(conf, (labels, pred), 1)
    per_class = {n: (float(conf[i, i] / conf[i].sum()) if conf[i].sum() else None) for i, n in enumerate(names)}
    return {'top1': float((pred == labels).mean()), 'top5': float(top5.mean()), 'n': int(len(labels)),
            'per_class': per_class, 'confusion': conf.tolist()}


def plot_confusion(conf, names, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    conf = np.asarray(conf, dtype=float)
    norm = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(norm, cmap='Blues', vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    for i in range(len(names)):
        for j in range(len(names)):
            if conf[i, j]:
                ax.text(j, i, int(conf[i, j]), ha='center', va='center', fontsize=6,
                        color='white' if norm[i, j] > 0.5 else 'black')
    ax.set_xlabel('predicted')
    ax.set_ylabel('true')
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(history: list, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    ep = [h['epoch'] for h in history]
    a.plot(ep, [h['loss'] for h in history], label='train loss')
    a.set_xlabel('epoch')
    a.legend()
    b.plot(ep, [h['train_acc'] for h in history], label='train top-1')
    b.plot(ep, [h['val_top1'] for h in history], label='val top-1')
    b.set_xlabel('epoch')
    b.set_ylim(0, 1)
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_json(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
