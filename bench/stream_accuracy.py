"""Streaming accuracy across camera sizes and held-out splits, one table (issue: streaming accuracy).

    .venv/bin/python bench/stream_accuracy.py [--model FILE] [--minutes 3] [--seeds 0 1 2] [--jobs 2] \
        [--sizes 120x160 240x320 240x424 480x640 480x848] [--hfov DEGREES | --hfov nominal] [--out runs/stream_eval] \
        [--device cpu|cuda] [--params-file config/monitor.yaml] [--partners any|split] [--world 5]

Runs ``depth_action_recognition.stream_eval`` (random scenarios played through the node's clip buffer,
preprocessing, model and alarm policy, offline) for every camera size on the held-out subjects (31-40,
views 0-3) and on the held-out view (4, subjects 1-30), each with every seed, and prints per setting:
top-1 on windows wholly inside one action, accuracy over all windows, the weakest class, and alarms with
labels matched; then the alarms pooled over everything. Reports go to ``--out`` as JSON, one per setting.

The cameras' horizontal field of view is the simulator's 55-65 degrees at every size unless ``--hfov`` sets
one (degrees), or ``--hfov nominal`` gives each size the field of view of the real camera mode with that
size (``synthetic.stream.CAMERA_MODES``: 87 degrees at 424x240 and 848x480, as a stereo camera's 16:9
modes; the training windows draw within 5 degrees of these).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import ROOT, report_prefix, report_suffix

from depth_action_recognition.synthetic.dataset import PARTNERS
from depth_action_recognition.synthetic.scene import WORLD, WORLDS

SPLITS = {'held-out subjects': ('31-40', '0-3'), 'held-out view': ('1-30', '4')}


def reusable(path: Path, params: dict, world: int) -> bool:
    """Whether the report at ``path`` can stand for a run with these recognizer parameters in world round
    ``world`` (its name already fixes the model file, stream length, seeds, size, split, lens and partners). A
    report that records no round is run again: before world rounds were recorded the default was round 4, and
    then, for a few commits, round 5."""
    try:
        made = json.loads(Path(path).read_text())
    except (OSError, ValueError):           # none yet, or cut short
        return False
    return isinstance(made, dict) and made.get('params') == params and made.get('world') == world


def run(args, size, split) -> dict:
    subjects, views = SPLITS[split]
    seeds = '-'.join(map(str, args.seeds))
    # A report is reused only when :func:`reusable` (an interrupted table resumes; a changed params file is
    # evaluated anew). Reports of the default round have the plain name; another round's name says it.
    hfov = args.hfovs[size]
    fov = '' if hfov is None else f'_hfov{hfov:g}'
    dev = report_suffix(args.device)
    partners = '' if args.partners == 'any' else f'_partners-{args.partners}'
    world = '' if args.world == WORLD else f'_world{args.world}'
    out = args.out / (f'{report_prefix(args.model_id)}{size}_{split.replace(" ", "_")}_{args.minutes:g}min_s{seeds}'
                      f'{fov}{partners}{world}{args.params_tag}{dev}.json')
    if not reusable(out, args.params, args.world):
        cmd = [sys.executable, '-m', 'depth_action_recognition.stream_eval', '--minutes', str(args.minutes),
               '--seeds', *map(str, args.seeds), '--size', size, '--subjects', subjects, '--views', views,
               '--report-json', str(out), '--model', str(args.model), '--device', args.device,
               '--params-file', str(args.params_file), '--partners', args.partners, '--world', str(args.world)] \
            + ([] if hfov is None else ['--hfov', str(hfov)])
        env = {**os.environ, 'OMP_NUM_THREADS': '1'}
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def hfov_of(arg, size: str):
    """The field of view (degrees) of a ``HxW`` camera: None (the simulator's), a number, or 'nominal'."""
    if arg is None:
        return None
    if arg != 'nominal':
        return float(arg)
    from depth_action_recognition.synthetic.stream import CAMERA_MODES
    h, w = map(int, size.split('x'))
    # sim160 is the simulator's own camera: its training windows draw 55-65 degrees, as the default does.
    nominal = {(mh, mw): None if mode == 'sim160' else fov for mode, (mw, mh, fov) in CAMERA_MODES.items()}
    if (h, w) not in nominal:
        raise SystemExit(f'--hfov nominal: no camera mode of size {size} (have {sorted(nominal)})')
    return nominal[(h, w)]


def pct(v):
    return 'n/a' if v is None else f'{100 * v:.1f}'


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', type=Path, default=None, help='student .safetensors (default: the shipped model)')
    p.add_argument('--minutes', type=float, default=3.0, help='stream length per seed and setting')
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--sizes', nargs='+', default=['120x160', '240x320', '240x424', '480x640', '480x848'])
    p.add_argument('--splits', nargs='+', default=list(SPLITS), choices=list(SPLITS))
    p.add_argument('--hfov', default=None, help="cameras' horizontal field of view in degrees, or 'nominal' "
                                                "(each size's real camera mode); default: the simulator's 55-65")
    p.add_argument('--world', type=int, default=WORLD, choices=WORLDS,
                   help='world round of the scenarios (default %(default)s; a report names a round other than the default '
                        'in its file name, and records its round)')
    p.add_argument('--partners', default='any', choices=PARTNERS,
                   help="the scenes' second person: any other of the 40 subjects (default), or one of the "
                        "split's own subjects (held-out subjects with held-out partners)")
    p.add_argument('--jobs', type=int, default=2, help='settings evaluated side by side (one core each)')
    p.add_argument('--device', default='cpu', choices=('cpu', 'cuda', 'auto'),
                   help="the model's device (stream_eval's --device); reports say which one ran")
    p.add_argument('--params-file', type=Path, default=None,
                   help='recognizer parameters: stride, smoothing, alarm rule (default: config/monitor.yaml)')
    p.add_argument('--out', type=Path, default=Path('runs/stream_eval'))
    args = p.parse_args()
    from depth_action_recognition.checkpoint import load_checkpoint
    from depth_action_recognition.resources import default_model_path, default_params_file
    from depth_action_recognition.stream_eval import node_settings, recognizer_params, with_defaults
    args.params_file = (args.params_file or default_params_file()).resolve()
    args.params = with_defaults(recognizer_params(args.params_file))     # what the reports record
    # Reports of other parameters than the packaged file's are named apart (and compare_reports checks both).
    packaged = with_defaults(recognizer_params(default_params_file()))
    args.params_tag = '' if args.params == packaged else \
        '_p' + hashlib.sha256(json.dumps(args.params, sort_keys=True).encode()).hexdigest()[:8]
    args.model = (args.model or default_model_path()).resolve()     # the children run from the repository root
    loaded = load_checkpoint(args.model)
    args.model_id = loaded.short_id
    node = node_settings(args.params, loaded)              # as the node would read the file (defaults included)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    try:                                    # every size's field of view before the first (minutes-long) setting
        args.hfovs = {size: hfov_of(args.hfov, size) for size in args.sizes}
    except ValueError:
        p.error(f"--hfov must be degrees or 'nominal', got {args.hfov!r}")
    settings = [(size, split) for split in args.splits for size in args.sizes]
    with ThreadPoolExecutor(args.jobs) as pool:
        reports = list(pool.map(lambda s: run(args, *s), settings))
    fov = ("the simulator's 55-65 degrees" if args.hfov is None else 'each size\'s nominal' if args.hfov == 'nominal'
           else f'{float(args.hfov):g} degrees')
    print(f'model {args.model_id} ({args.model}); {len(args.seeds)} seeds x {args.minutes:g} min per setting; '
          f'horizontal field of view {fov}; second persons drawn from '
          f'{"any subject" if args.partners == "any" else "the split"}; world round {args.world}')
    rule = node.alarm
    print(f'recognizer ({args.params_file}): stride {node.stride}, '
          f'{"each clip and its mirror image, " if node.flip_average else ""}probabilities averaged over '
          f'{node.smooth_clips} clip(s), alarm when a label wins with score >= {rule.threshold} in '
          f'{rule.k} of the last {rule.n} clips')
    print('| split | camera (HxW) | top-1, windows inside one action | accuracy, all windows | weakest class '
          '(inside) | alarm recall | alarm precision | false alarms / h |')
    print('|---|---|---|---|---|---|---|---|')
    pooled = {'episodes': 0, 'detected': 0, 'raised': 0, 'false': 0, 'hours': 0.0}
    for (size, split), r in zip(settings, reports):
        scored = [(v['pure'], k) for k, v in r['per_class'].items() if v['pure'] is not None and v['n_pure'] >= 5]
        worst = min(scored) if scored else (None, 'n/a')
        eps, raised = r['alarm_episodes'], r['alarms_raised']
        false = len(r['false_alarms'])
        pooled['episodes'] += eps
        pooled['detected'] += eps - len(r['missed_episodes'])
        pooled['raised'] += raised
        pooled['false'] += false
        pooled['hours'] += r['hours']
        print(f'| {split} | {size} | {pct(r["top1_pure"])}% of {r["windows_pure"]} | {pct(r["accuracy_all"])}% of '
              f'{r["windows"]} | {worst[1]} {pct(worst[0])}% | {eps - len(r["missed_episodes"])}/{eps} | '
              f'{raised - false}/{raised} | {false / max(r["hours"], 1e-9):.1f} |')
    h = pooled['hours']
    print(f'\nalarms pooled over {60 * h:.0f} min: recall {pooled["detected"]}/{pooled["episodes"]} '
          f'({pct(pooled["detected"] / max(1, pooled["episodes"]))}%), precision '
          f'{pooled["raised"] - pooled["false"]}/{pooled["raised"]} '
          f'({pct((pooled["raised"] - pooled["false"]) / max(1, pooled["raised"]))}%), '
          f'{pooled["false"] / max(h, 1e-9):.1f} false alarms per hour')


if __name__ == '__main__':
    main()
