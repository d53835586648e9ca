"""Copy a trained student into models/ (the packaged model directory) with a model card stub.

    python -m training.export runs/default/student.safetensors --name default [--fit extend]

``--fit`` serves the same weights with another fit of frames to the input than the one they were trained
with (the checkpoint's ``preprocess.crop``; its model id changes with it, and its provenance keeps the fit it
was trained with): a letterbox-trained student (``pad``) can be served with ``extend``
(depth_action_recognition/preprocess.py), which gives wider frames wider inputs; the two agree on frames of the
model's aspect or narrower.
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

from depth_action_recognition.checkpoint import load_checkpoint, save_checkpoint
from depth_action_recognition.errors import CheckpointError
from depth_action_recognition.models import count_flops
from depth_action_recognition.preprocess import FITS
from depth_action_recognition.resources import share_dir

# Where the recognizer looks for models (a checkout's models/, or the installed share directory):
# `training` installs as a top-level package, so nothing is found relative to this file.
MODELS = share_dir() / 'models'


def card_stub(loaded, name: str) -> str:
    m = loaded.meta
    spec = m.preprocess
    flops = count_flops(loaded.model, (1, spec.frames, spec.height, spec.width)) / 1e9
    metrics = '\n'.join(f'| {k} | {v.get("top1", float("nan")):.4f} | {v.get("top5", float("nan")):.4f} | {v.get("n")} |'
                        for k, v in m.metrics.items())
    return f"""# Model card: {name}

- File: `models/{name}.safetensors` (sha256 `{loaded.sha256[:16]}...`), {loaded.path.stat().st_size / 1e6:.2f} MB
- Architecture: {m.student.arch} student, widths {list(m.student.widths)}, {flops:.2f} GFLOPs per clip
- Input: {spec.frames} depth frames at {spec.fps:g} fps, {spec.height}x{spec.width}, depth range {spec.min_depth_m}-{spec.max_depth_m} m, fit `{spec.crop}` (trained with `{m.trained_fit}`; the metrics below were measured with the fit it was trained with)
- Labels ({len(m.labels)}): {', '.join(m.labels)}
- Alarm classes: {', '.join(m.alarm_labels)}
- Trained with: `{m.provenance.get('command', '?')}`

## Measured accuracy (from the checkpoint's metadata)

| split | top-1 | top-5 | clips |
|---|---|---|---|
{metrics}

## Intended use, limitations
TODO: fill in (see models/MODEL_CARD.md of the default model for the expected contents).
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description='Copy a student checkpoint into models/ with a model card stub.')
    p.add_argument('checkpoint', type=Path, help='student.safetensors from training.distill')
    p.add_argument('--name', default='default', help='file name in models/ (without extension)')
    p.add_argument('--models-dir', type=Path, default=MODELS, help='destination folder')
    p.add_argument('--force', action='store_true', help='overwrite an existing model card')
    p.add_argument('--fit', choices=FITS, default=None,
                   help="serve with this fit of frames to the input instead of the trained one (e.g. 'extend')")
    args = p.parse_args(argv)
    try:
        loaded = load_checkpoint(args.checkpoint)          # refuse to ship a file the recognizer would refuse
    except CheckpointError as e:
        print(f'export: error: {e}', file=sys.stderr)
        return 2
    args.models_dir.mkdir(parents=True, exist_ok=True)
    dest = args.models_dir / f'{args.name}.safetensors'
    meta = loaded.meta
    if args.fit is not None and args.fit != meta.preprocess.crop:
        trained = meta.trained_fit
        # 'extend' is 'pad' with a wider input for a wider frame: between the two, every frame keeps the geometry
        # the weights were trained on. Any other change (a stretched or cropped model letterboxed, say) changes
        # what the model sees of a 16:9 or 10:9 camera: retrain with that --fit instead.
        if not {trained, args.fit} <= {'pad', 'extend'}:
            print(f'export: error: --fit {args.fit}: {args.checkpoint} was trained with fit {trained!r}; only pad and '
                  'extend share a geometry (retrain with training.distill --fit to change it)', file=sys.stderr)
            return 2
        meta = dataclasses.replace(meta, preprocess=dataclasses.replace(meta.preprocess, crop=args.fit),
                                   provenance={**meta.provenance, 'trained_fit': trained, 'served_from': loaded.short_id})
        save_checkpoint(dest, loaded.model, meta)
    else:
        shutil.copyfile(args.checkpoint, dest)
    card = args.models_dir / ('MODEL_CARD.md' if args.name == 'default' else f'{args.name}.md')
    if args.force or not card.exists():
        card.write_text(card_stub(load_checkpoint(dest), args.name))
    print(f'exported {dest} ({dest.stat().st_size / 1e6:.2f} MB); model card {card}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
