"""The repository's version of the paper's table: methods x students x paired-set sizes x seeds, as CSV.

    # 1. tune each method's knobs on the validation folder (never on a test split), same budget per method
    python -m training.experiment tune --data data/synth4 --val-data data/synth4_val \
        --teacher-checkpoint runs/r4_rgb20/teacher.safetensors --per-class 20 --seeds 10 11 \
        --out runs/tune --csv training/results/tune.csv
    # 2. the grid with the tuned knobs (read back from tune.csv), every (method, student, size, seed)
    python -m training.experiment grid --data data/synth4 --val-data data/synth4_val \
        --teacher-checkpoint runs/r4_rgb20/teacher.safetensors --tuned training/results/tune.csv \
        --students tiny small --per-class 20 0 --seeds 0 1 2 --out runs/grid --csv training/results/grid.csv
    # 3. the README's table from the CSV
    python -m training.experiment table training/results/grid_*.csv

Each run is one ``training.distill`` call with a shared teacher cache; a run whose ``metrics.json`` exists
and was made by the same command (``experiment_argv.json`` beside it) is read back, not repeated, so an
interrupted grid resumes and a changed setting (epochs, data, knobs) trains anew. Every run appends rows to the CSV: one per
evaluated split (``val``, ``cross_subject``, ``cross_view``) with the knobs, the student's GFLOPs and the
training step's median cost.
"""
from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from training import distill
from training.losses import METHODS

COLUMNS = ['method', 'student', 'paired_per_class', 'seed', 'split', 'top1', 'top5', 'n', 'train_clips', 'epochs',
           'gflops', 'step_ms', 'batch_size', 'train_s', 'stage', 'direction', 'alpha', 'temperature', 'w_kd',
           'w_feat', 'w_mix', 'teacher', 'data', 'world_commit', 'run']

# The tuning budget: six configurations per distillation method (one for depth-only, which has no knob),
# each run with every tuning seed. kd: temperature x weight. feat: where the hint is taken x weight. mix:
# the direction at stage 3, then the best direction at stage 2, then the best so far with a U-shaped
# lambda (alpha 0.4) and with twice the mixing weight; its logit-KD term keeps kd's tuned temperature and
# weight, so mix is judged as "tuned kd + mixing".
KD_GRID = [{'temperature': t, 'w_kd': w} for w in (1.0, 2.0) for t in (2.0, 4.0, 8.0)]
FEAT_GRID = [{'stage': s, 'w_feat': w} for w in (0.5, 2.0) for s in ('embedding', 'stage2', 'stage3')]
MIX_DIRECTIONS = [{'direction': d, 'stage': 'stage3'} for d in ('s2t', 't2s', 'both')]
MIX_REFINE = [{'alpha': 0.4}, {'w_mix': 2.0}]
FLAGS = {'stage': '--stage', 'direction': '--direction', 'alpha': '--alpha', 'temperature': '--temperature',
         'w_kd': '--w-kd', 'w_feat': '--w-feat', 'w_mix': '--w-mix'}


def world_commit() -> str:
    """The commit the synthetic world's code was at (dirty trees are marked). With the data folders' own
    ``world`` round (their dataset.json) it says which world a figure is of: since world round 5 a commit renders
    every round it knows. A copy without git history (a GPU machine gets the files only) says so through
    DAR_WORLD_COMMIT."""
    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--', 'depth_action_recognition/synthetic'],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ''
    return (rev + ('+dirty' if dirty else '')) if rev else os.environ.get('DAR_WORLD_COMMIT', 'unknown')


def run_name(method: str, student: str, per_class: int, seed: int, knobs: dict) -> str:
    tag = '_'.join(f'{k}{v}' for k, v in sorted(knobs.items()))
    return f'{method}_{student}_pc{per_class}_s{seed}' + (f'_{tag}' if tag else '')


def distill_argv(args, method, student, per_class, seed, knobs, out: Path) -> list:
    """The training.distill command of one run, every path absolute: the same files named from another working
    directory make the same command (and so reuse the run)."""
    def path(p):
        return str(Path(p).resolve())
    argv = ['--data', *map(path, args.data), '--val-data', path(args.val_data), '--method', method, '--student', student,
            '--per-class', str(per_class), '--seed', str(seed), '--epochs', str(epochs_for(args, per_class)),
            '--device', args.device, '--val-every', '100', '--out', path(out)]   # validated once, at the end
    if method != 'none':
        argv += ['--teacher-checkpoint', path(args.teacher_checkpoint), '--teacher-cache', path(args.teacher_cache)]
    for k, v in knobs.items():
        argv += [FLAGS[k], str(v)]
    return argv


def run_one(args, method, student, per_class, seed, knobs, out: Path) -> dict:
    """One training.distill run; returns its metrics. A finished run in ``out`` is reused only when it was
    made by the same command (recorded beside its metrics), so a changed setting is trained anew."""
    argv = distill_argv(args, method, student, per_class, seed, knobs, out)
    metrics, made_by = out / 'metrics.json', out / 'experiment_argv.json'
    if metrics.is_file() and not made_by.is_file():
        print(f'experiment: warning: {metrics} predates the record of its command: reused unchecked', flush=True)
    elif not (metrics.is_file() and _recorded(made_by) == argv):
        # The record goes first: whatever metrics appear in ``out`` from now on were made by this command,
        # even if the run dies after writing them.
        metrics.unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        made_by.write_text(json.dumps(argv))
        rc = distill.main(argv)
        if rc:
            raise SystemExit(f'experiment: training.distill failed ({rc}) for {out}')
    return json.loads(metrics.read_text())


# Flags whose values older records hold as given (relative), taken from the working directory as they were.
_PATH_FLAGS = ('--teacher-checkpoint', '--teacher-cache')


def _recorded(path: Path):
    try:
        argv = json.loads(path.read_text())
    except (OSError, ValueError):          # cut short: as if another command
        return None
    if not isinstance(argv, list):
        return None
    return [str(Path(v).resolve()) if i and argv[i - 1] in _PATH_FLAGS else v for i, v in enumerate(argv)]


def epochs_for(args, per_class: int) -> int:
    return args.epochs if per_class > 0 else args.epochs_full


def _worker_init(threads: int) -> None:
    import torch
    torch.set_num_threads(threads)


def _run_job(args, job) -> dict:
    return run_one(args, *job)


_POOL: list = []      # one pool for the whole tuning or grid: its processes keep their decoded clips


def run_all(args, jobs: list, fn=None):
    """Yields the metrics of each job (method, student, per_class, seed, knobs, out), in order. With --jobs N
    the runs share N processes (spawned: CUDA cannot be forked); each keeps its decoded clips between runs."""
    fn = fn or _run_job
    if args.jobs <= 1 or len(jobs) <= 1:
        yield from (fn(args, job) for job in jobs)
        return
    if not _POOL:
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        _POOL.append(ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context('spawn'),
                                         initializer=_worker_init, initargs=(threads,)))
    yield from _POOL[0].map(fn, [args] * len(jobs), jobs)


def rows_of(m: dict, args, per_class: int, out: Path, commit: str) -> list:
    knobs = m.get('knobs', {})
    rows = []
    for split in ('val', 'cross_subject', 'cross_view'):
        if split not in m:
            continue
        rows.append({'method': m['method'], 'student': m['student'], 'paired_per_class': per_class,
                     'seed': m['seed'], 'split': split, 'top1': round(m[split]['top1'], 5),
                     'top5': round(m[split]['top5'], 5), 'n': m[split]['n'], 'train_clips': m['train_clips'],
                     'epochs': m['timings']['epochs'], 'gflops': round(m['gflops_per_clip'], 4),
                     'step_ms': round(m['timings'].get('step_ms') or 0, 1), 'batch_size': m['timings'].get('batch_size'),
                     'train_s': m['timings']['train_s'],
                     'stage': knobs.get('stage', '') if m['method'] in ('feat', 'mix') else '',
                     'direction': knobs.get('direction', '') if m['method'] == 'mix' else '',
                     'alpha': knobs.get('alpha', '') if m['method'] == 'mix' else '',
                     'temperature': knobs.get('temperature', '') if m['method'] in ('kd', 'mix') else '',
                     'w_kd': knobs.get('w_kd', '') if m['method'] in ('kd', 'mix') else '',
                     'w_feat': knobs.get('w_feat', '') if m['method'] == 'feat' else '',
                     'w_mix': knobs.get('w_mix', '') if m['method'] == 'mix' else '',
                     'teacher': args.teacher_checkpoint if m['method'] != 'none' else '', 'data': m['data'],
                     'world_commit': commit, 'run': str(out)})
    return rows


def write_csv(path: Path, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)


def read_csv(path) -> list:
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def mean_val(rows: list, method: str, knobs: dict) -> float:
    """Mean validation top-1 over seeds of the tuning runs of ``method`` with these knobs."""
    vals = [float(r['top1']) for r in rows if r['method'] == method and r['split'] == 'val'
            and all(str(r[k]) == str(v) for k, v in knobs.items())]
    return float(np.mean(vals)) if vals else float('nan')


def knobs_of(row: dict, method: str) -> dict:
    keys = {'kd': ('temperature', 'w_kd'), 'feat': ('stage', 'w_feat'),
            'mix': ('direction', 'stage', 'alpha', 'temperature', 'w_kd', 'w_mix'), 'none': ()}[method]
    out = {}
    for k in keys:
        v = row[k]
        out[k] = v if k in ('stage', 'direction') else float(v)
    return out


def best_knobs(rows: list, method: str) -> dict:
    """The tuned configuration of ``method``: the highest mean validation top-1 over the tuning seeds."""
    configs = {json.dumps(knobs_of(r, method), sort_keys=True) for r in rows if r['method'] == method}
    if not configs:
        raise SystemExit(f'experiment: no tuning runs of {method} in the --tuned CSV')
    return json.loads(max(configs, key=lambda c: mean_val(rows, method, json.loads(c))))


def tune(args) -> int:
    rows, commit = [], world_commit()
    student, per_class = args.students[0], args.per_class[0]

    def runs(configs):
        """configs: (method, knobs) pairs, each run with every tuning seed; the runs of one call are
        independent of each other and may run side by side (--jobs)."""
        jobs = [(method, student, per_class, seed, knobs, args.out / run_name(method, student, per_class, seed, knobs))
                for method, knobs in configs for seed in args.seeds]
        for job, m in zip(jobs, run_all(args, jobs)):
            rows.extend(rows_of(m, args, per_class, job[-1], commit))
            write_csv(args.csv, rows)       # as each run ends: an interrupted tuning keeps what it has

    # Several processes can share the tuning: each takes some --methods and writes its own CSV (mix needs
    # kd's result, so the two go together).
    if 'mix' in args.methods and 'kd' not in args.methods:
        raise SystemExit('experiment: tuning mix needs kd in the same --methods (it keeps kd\'s tuned knobs)')
    grids = {'none': [{}], 'kd': KD_GRID, 'feat': FEAT_GRID}
    runs([(m, knobs) for m in ('none', 'kd', 'feat') if m in args.methods for knobs in grids[m]])
    if 'mix' in args.methods:
        kd = best_knobs(rows, 'kd')
        runs([('mix', {**kd, 'alpha': 1.0, 'w_mix': 1.0, **g}) for g in MIX_DIRECTIONS])
        runs([('mix', {**best_knobs(rows, 'mix'), 'stage': 'stage2'})])
        base = best_knobs(rows, 'mix')
        runs([('mix', {**base, **v}) for v in MIX_REFINE])
    print(tuning_table(rows))
    return 0


def tuning_table(rows: list) -> str:
    lines = ['| method | knobs | val top-1 (mean over seeds) |', '|---|---|---|']
    for method in METHODS:
        configs = sorted({json.dumps(knobs_of(r, method), sort_keys=True) for r in rows if r['method'] == method})
        scored = sorted(((mean_val(rows, method, json.loads(c)), c) for c in configs), reverse=True)
        for k, (v, c) in enumerate(scored):
            mark = ' **(chosen)**' if k == 0 else ''
            lines.append(f'| {method} | {c} | {100 * v:.1f}{mark} |')
    return '\n'.join(lines)


def grid(args) -> int:
    tuned_rows = [r for path in args.tuned for r in read_csv(path)]
    knobs = {m: (best_knobs(tuned_rows, m) if m != 'none' else {}) for m in args.methods}
    print('tuned knobs: ' + json.dumps(knobs), flush=True)
    commit = world_commit()
    jobs = [(method, student, per_class, seed, knobs[method], args.out / run_name(method, student, per_class, seed, {}))
            for per_class in args.per_class for student in args.students for seed in args.seeds
            for method in args.methods]
    rows = []
    for job, m in zip(jobs, run_all(args, jobs)):
        rows.extend(rows_of(m, args, job[2], job[-1], commit))
        write_csv(args.csv, rows)
    print(table(rows))
    return 0


def table(rows: list) -> str:
    """Mean ± sample std over seeds of held-out top-1, per (paired-set size, student, method), with the
    student's GFLOPs and the median training step cost; the verdict column compares mix with kd."""
    def stats(sel):
        v = np.array([float(r['top1']) for r in sel])
        return v.mean(), (v.std(ddof=1) if len(v) > 1 else 0.0), len(v)

    lines = ['| paired clips/class | student (GFLOPs) | method | held-out subjects top-1 | held-out view top-1 | '
             'step ms | seeds |', '|---|---|---|---|---|---|---|']
    keys = sorted({(int(r['paired_per_class']), r['student']) for r in rows}, key=lambda k: (k[0] == 0, k[0], k[1]))
    for pc, student in keys:
        for method in METHODS:
            sel = [r for r in rows if int(r['paired_per_class']) == pc and r['student'] == student and r['method'] == method]
            if not sel:
                continue
            cells = []
            for split in ('cross_subject', 'cross_view'):
                mu, sd, n = stats([r for r in sel if r['split'] == split])
                cells.append(f'{100 * mu:.1f} ± {100 * sd:.1f}')
            step = np.median([float(r['step_ms']) for r in sel if r['split'] == 'cross_subject'])
            gf = float(sel[0]['gflops'])
            size = 'all' if pc == 0 else str(pc)
            lines.append(f'| {size} | {student} ({gf:.2f}) | {method} | {cells[0]} | {cells[1]} | {step:.0f} | '
                         f'{len({r["seed"] for r in sel})} |')
    return '\n'.join(lines)


def verdict(rows: list) -> str:
    """Per (size, student, split): mix - kd against the larger of the two seed standard deviations."""
    out = []
    keys = sorted({(int(r['paired_per_class']), r['student']) for r in rows}, key=lambda k: (k[0] == 0, k[0], k[1]))
    for pc, student in keys:
        for split in ('cross_subject', 'cross_view'):
            v = {m: np.array([float(r['top1']) for r in rows if int(r['paired_per_class']) == pc
                              and r['student'] == student and r['method'] == m and r['split'] == split])
                 for m in ('kd', 'mix')}
            if not all(len(x) for x in v.values()):
                continue
            diff = v['mix'].mean() - v['kd'].mean()
            sd = max(v['mix'].std(ddof=1), v['kd'].std(ddof=1)) if min(map(len, v.values())) > 1 else 0.0
            ok = 'beats' if diff > sd else ('ties' if diff > -sd else 'loses to')
            out.append(f'{"all" if pc == 0 else pc} / {student} / {split}: mix {ok} kd '
                       f'({100 * diff:+.1f} points, seed std {100 * sd:.1f})')
    return '\n'.join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    for name in ('tune', 'grid'):
        s = sub.add_parser(name)
        s.add_argument('--data', required=True, nargs='+', help='dataset folder(s)')
        s.add_argument('--val-data', required=True, help='validation folder (training subjects and views, its own seed)')
        s.add_argument('--teacher-checkpoint', required=True)
        s.add_argument('--teacher-cache', type=Path, default=None, help='shared cache (default: OUT/teacher_cache.safetensors)')
        s.add_argument('--out', type=Path, required=True)
        s.add_argument('--csv', type=Path, required=True, help='per-run results, one row per evaluated split')
        s.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
        s.add_argument('--students', nargs='+', default=['tiny'])
        s.add_argument('--per-class', nargs='+', type=int, default=[20], help='paired clips per class (0 = all)')
        s.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
        s.add_argument('--epochs', type=int, default=15, help='epochs at --per-class > 0')
        s.add_argument('--epochs-full', type=int, default=3, help='epochs with every training clip (--per-class 0)')
        s.add_argument('--device', default='auto')
        s.add_argument('--jobs', type=int, default=1, help='runs side by side, each in its own process (a GPU has room for several)')
        if name == 'grid':
            s.add_argument('--tuned', required=True, type=Path, nargs='+', help='the CSV(s) written by the tune step')
    f = sub.add_parser('flags', help='print the tuned knobs of one method as training.distill flags')
    f.add_argument('--tuned', required=True, type=Path, nargs='+')
    f.add_argument('--method', required=True, choices=[m for m in METHODS if m != 'none'])
    t = sub.add_parser('table')
    t.add_argument('csv', type=Path, nargs='+', help='grid CSV file(s); several are read as one')
    args = p.parse_args(argv)
    if args.cmd == 'table':
        rows = [r for path in args.csv for r in read_csv(path)]
        print(table(rows))
        print()
        print(verdict(rows))
        return 0
    if args.cmd == 'flags':
        knobs = best_knobs([r for path in args.tuned for r in read_csv(path)], args.method)
        print(' '.join(f'{FLAGS[k]} {v}' for k, v in knobs.items()))
        return 0
    args.teacher_cache = args.teacher_cache or args.out / 'teacher_cache.safetensors'
    if args.jobs > 1 and any(m != 'none' for m in args.methods):
        # Side by side, every run that found no cache would build the same one at once: build it here first
        # (the same clips as training.distill's defaults; a no-op when it is up to date).
        from training import cache
        if cache.main(['--data', *args.data, '--teacher-checkpoint', args.teacher_checkpoint, '--device', args.device,
                       '--out', str(args.teacher_cache)]):
            return 2
    try:
        return tune(args) if args.cmd == 'tune' else grid(args)
    finally:
        for pool in _POOL:
            pool.shutdown(cancel_futures=True)
        _POOL.clear()


if __name__ == '__main__':
    sys.exit(main())
