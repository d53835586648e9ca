"""Average the weights of students fine-tuned from one model (a "model soup", Wortsman et al., ICML 2022).

    python -m training.soup runs/default_cabbe406/student.safetensors models/default.safetensors \
        --weights 0.5 0.5 --name default --out runs/soup46/student.safetensors

Students fine-tuned from the same weights stay in one basin of the loss, so a weighted mean of their weights is
itself a working model, and one that often keeps what each learnt (two fine-tunes on different data mixes that
move errors between classes in opposite directions, say), at the cost of one model's FLOPs. Students that do
not share weights average to noise: the command refuses them unless one of the models is the other's
``--init`` or both have the same ``--init`` (their provenance says so).

Every floating tensor is averaged, BatchNorm's running mean and variance too. That is an approximation: the
soup's activations have statistics of their own, which only a pass over training data would give; the figures
of a soup are measured, not inferred from its members'. ``num_batches_tracked`` (an integer) takes the
largest value. Only a member and the models fine-tuned from it, or models fine-tuned from one model, are
accepted: a soup records no ``init``, so a soup of soups, or of a model and its grandparent, is refused. The
soup's metadata keeps the members' labels, preprocessing and student config, which must
agree; its provenance names the members and their weights; its metrics are empty (they belong to the members).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import sys
from pathlib import Path

import torch

from depth_action_recognition.checkpoint import file_sha256, load_checkpoint, model_id, save_checkpoint
from depth_action_recognition.errors import CheckpointError


def check_members(loaded: list) -> str:
    """Raise :class:`CheckpointError` unless the models can be averaged: same network, labels and preprocessing,
    and fine-tuned from one model (one of them, or the ``init`` they all name). Returns the fit they were trained
    with."""
    first = loaded[0]
    for m in loaded[1:]:
        for what in ('student', 'labels', 'alarm_labels', 'preprocess'):
            if getattr(m.meta, what) != getattr(first.meta, what):
                raise CheckpointError(f'{m.path} and {first.path} differ in {what}; only models of one network, '
                                      'label set and preprocessing can be averaged')
    ids = [m.short_id for m in loaded]
    if len(set(ids)) < len(ids):
        raise CheckpointError('the same model is given twice (' + ', '.join(map(str, (m.path for m in loaded)))
                              + '): use --weights to weigh a member')
    fits = {m.meta.trained_fit for m in loaded}
    if len(fits) > 1:
        raise CheckpointError(f'the models were trained with different fits ({", ".join(sorted(fits))})')
    inits = [m.meta.provenance.get('init') for m in loaded]
    roots = (set(ids) | set(inits)) - {None}
    if not any(all(i == root or init == root for i, init in zip(ids, inits)) for root in roots):
        raise CheckpointError('the models were not fine-tuned from one model (' + ', '.join(
            f'{m.path}: {i} from {init or "scratch"}' for m, i, init in zip(loaded, ids, inits))
            + '): their weights do not average')
    return fits.pop()


def average(loaded: list, weights: list) -> dict:
    """The weighted mean of the members' state dicts (integer buffers: the largest value)."""
    states = [m.model.state_dict() for m in loaded]
    out = {}
    for key, ref in states[0].items():
        if ref.is_floating_point():
            out[key] = sum(w * s[key].double() for w, s in zip(weights, states)).to(ref.dtype)
        else:
            out[key] = torch.stack([s[key] for s in states]).max(0).values
    return out


def normalised(weights, n: int) -> list:
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise ValueError(f'{len(weights)} weights for {n} models')
    if not all(math.isfinite(w) and w >= 0 for w in weights) or not 0 < sum(weights) < math.inf:
        raise ValueError(f'weights must be finite, >= 0 and not all 0, got {weights}')
    return [w / sum(weights) for w in weights]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description='Average the weights of students fine-tuned from one model.')
    p.add_argument('models', nargs='+', type=Path, help='two or more student .safetensors files')
    p.add_argument('--weights', type=float, nargs='+', default=None,
                   help='one weight per model (normalised to sum to 1; default: equal)')
    p.add_argument('--name', required=True, help="the soup's model name (its id is name@sha256)")
    p.add_argument('--out', type=Path, required=True, help='where to write the soup (.safetensors)')
    args = p.parse_args(argv)
    if len(args.models) < 2:
        p.error('give two or more models')
    try:
        weights = normalised(args.weights, len(args.models))
    except ValueError as e:
        p.error(f'--weights: {e}')
    members_at = {path.resolve() for path in args.models}
    if args.out.resolve() in members_at:
        p.error(f'--out {args.out} is one of the models: write the soup elsewhere')
    try:
        loaded = [load_checkpoint(path) for path in args.models]
        fit = check_members(loaded)
    except (CheckpointError, OSError) as e:
        print(f'soup: error: {e}', file=sys.stderr)
        return 2
    first = loaded[0]
    model = first.model
    model.load_state_dict(average(loaded, weights))
    members = [{'model': m.short_id, 'weight': round(w, 6), 'init': m.meta.provenance.get('init')}
               for m, w in zip(loaded, weights)]
    # the members' labels, inputs and network (checked equal) and the fit they were all trained with
    meta = dataclasses.replace(first.meta, name=args.name, metrics={}, provenance={
        'command': shlex.join(['python', '-m', 'training.soup', *(sys.argv[1:] if argv is None else argv)]),
        'soup': members, 'trained_fit': fit})
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(args.out, model, meta)          # atomic: a failed write leaves nothing behind
        soup_id = model_id(args.name, file_sha256(args.out))
    except OSError as e:
        print(f'soup: error: writing {args.out}: {e}', file=sys.stderr)
        return 2
    print(f'soup: {soup_id} = ' + ' + '.join(f'{m["weight"]:.3f} x {m["model"]}' for m in members)
          + f' -> {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
