"""Write synthetic RGB-D clip datasets to disk with a manifest, and read them back.

Two kinds: *clips* (``--kind clips``, the default: each clip one action from its onset, at the
``--size`` given) and *stream* windows (``--kind stream``: each clip a window cut from a continuous
scenario by the recognizer's own sampler — any phase of an action, a third or so straddling the cut to
the next one, labelled by the window's majority — filmed by a depth camera mode drawn from
``stream.CAMERA_MODES`` (160x120 to 848x480, 4:3, 16:9, 10:9, fields of view within 5 degrees of each
mode's nominal one, 53-92, or drawn from ``--hfov-range``). A stream
window of a large camera is rendered at the size the preprocessing decimates it to for a model input of
``--model-size`` (848x480 -> 212x120 for 80x60), which is what the network sees of it; the record keeps
the camera's native size). The second person of a scene (a two-person action's partner, or a bystander) is
any other of the 40 subjects, or with ``--partners split`` one of ``--subjects``. ``--world`` names the world
round (default the newest, 5; 4 renders the folders of the models trained before it, bit for bit).

Layout of a dataset folder::

    dataset.json        labels, alarm labels, clip shape, fps, how it was made
    manifest.jsonl      one line per clip: path, label, label_id, subject, view, seed, people, partner (the second
                        person's subject, or null; of the window's own action for stream windows), onset
    clips/000000.npz    depth (T, H, W) uint16 mm and rgb (T, H, W, 3) uint8

    python -m depth_action_recognition.synthetic.dataset --out data/synth --clips-per-class 200

Offline tooling: the runtime never writes frames anywhere.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .actions import ALARM_LABELS, LABELS, OBJECT_LABELS
from ..files import atomic_path
from ..preprocess import decimation_step, fit_box
from .scene import N_SUBJECTS, N_VIEWS, WORLD, WORLDS, render_clip
from .stream import CAMERA_MODES, render_window

FORMAT = 'depth_action_recognition/synthetic-dataset/1'
PARTNERS = ('any', 'split')
# Settings a dataset.json records only when not at their default (folders from before them hold the default).
OPTIONAL = ('hfov_range', 'partners')


class DatasetError(ValueError):
    """A dataset folder is missing, incomplete or damaged (the message names the file)."""


def parse_hw(text: str) -> tuple:
    """'120x160' (or '120X160') -> (120, 160)."""
    return tuple(int(x) for x in str(text).lower().split('x'))


def parse_range(text: str) -> list:
    """'1-20,25,30-32' -> [1..20, 25, 30, 31, 32]."""
    out = []
    for part in str(text).split(','):
        if '-' in part:
            a, b = part.split('-')
            out += list(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return out


def plan(clips_per_class: int, subjects: list, views: list, seed: int, labels=LABELS) -> list:
    """Deterministic list of clip specs: every class gets the same count, subjects and views cycle."""
    rng = np.random.default_rng(seed)
    specs = []
    for li, label in enumerate(labels):
        subj = rng.permutation(np.resize(subjects, clips_per_class))
        view = rng.permutation(np.resize(views, clips_per_class))
        for j in range(clips_per_class):
            specs.append({'label': label, 'subject': int(subj[j]), 'view': int(view[j]),
                          'seed': int(seed * 1_000_003 + li * 100_000 + j)})
    return specs


def _render_one(job):
    index, spec, root, frames, size, fps, labels, partners, world = job
    clip = render_clip(spec['label'], spec['seed'], frames=frames, size=size, fps=fps,
                       subject=spec['subject'], view=spec['view'], partners=partners, world=world)
    rel = f'clips/{index:06d}.npz'
    # Compression: depth noise keeps this from being tiny, but it still halves the disk use.
    np.savez_compressed(Path(root) / rel, depth=clip.depth, rgb=clip.rgb)
    m = clip.meta
    return {'path': rel, 'label': clip.label, 'label_id': labels.index(clip.label), 'subject': m['subject'],
            'view': m['view'], 'seed': m['seed'], 'people': m['people'], 'partner': m['partner'], 'onset': m['onset']}


def stream_camera(spec_seed: int, mode: str, model_size=(60, 80), hfov_range=None) -> dict:
    """The camera of one stream window: native size, rendered (decimated) size, step and field of view.

    The field of view is drawn within 5 degrees of the mode's nominal one, or uniformly from ``hfov_range``
    (low, high degrees) where given: a sensor mode does not fix the lens, and a 16:9 camera at 60 degrees sees a
    person far larger than one at 87. The simulator's own camera (sim160) keeps its 55-65 degrees either way.
    """
    w0, h0, nominal = CAMERA_MODES[mode]
    rng = np.random.default_rng([spec_seed, 31])
    if mode == 'sim160':
        hfov = None
    elif hfov_range is None:
        hfov = float(np.clip(nominal + rng.uniform(-5, 5), 30, 120))
    else:
        hfov = float(rng.uniform(*hfov_range))
    _, _, rows, cols = fit_box(h0, w0, model_size[0], model_size[1], 'pad')
    step = decimation_step(h0, w0, rows.stop - rows.start, cols.stop - cols.start)
    return {'native_size': (h0, w0), 'size': (h0 // step, w0 // step), 'native_step': step, 'hfov': hfov}


def _render_stream_one(job):
    index, spec, root, frames, fps, model_size, labels, hfov_range, partners, world = job
    cam = stream_camera(spec['seed'], spec['mode'], model_size, hfov_range)
    win = render_window(spec['label'], spec['seed'], frames=frames, fps=fps, size=cam['size'],
                        native_size=cam['native_size'], hfov=cam['hfov'], native_step=cam['native_step'],
                        subject=spec['subject'], view=spec['view'], neighbours=labels, partners=partners,
                        world=world)
    rel = f'clips/{index:06d}.npz'
    np.savez_compressed(Path(root) / rel, depth=win.depth, rgb=win.rgb)
    m = win.meta
    return {'path': rel, 'label': win.label, 'label_id': labels.index(win.label), 'subject': m['subject'],
            'view': m['view'], 'seed': m['seed'], 'people': m['people'], 'partner': m['partner'], 'mode': spec['mode'],
            'native_size': m['native_size'], 'size': m['size'], 'hfov': m['hfov'], 'phase': m['phase'],
            'share': m['share'], 'straddle': m['straddle'], 'actions': m['actions']}


def rendering(*, labels, kind, count, seed, subjects, views, frames, fps, size, modes, model_size, hfov_range,
              partners='any', world=WORLD) -> dict:
    """The settings a dataset.json records of how its clips were made, as JSON has them: two folders with the
    same are the same rendering (the same seed renders the same clips)."""
    out = {'labels': list(labels), 'frames': frames, 'fps': float(fps), 'count': count, 'seed': seed, 'kind': kind,
           'world': int(world),
           'subjects': list(subjects), 'views': list(views),
           **({'size': list(size)} if kind == 'clips' else {'modes': list(modes), 'model_size': list(model_size)}),
           **({'hfov_range': [float(v) for v in hfov_range]} if hfov_range is not None else {}),
           **({'partners': partners} if partners != 'any' else {})}     # folders from before the option: 'any'
    return json.loads(json.dumps(out))


def requested(args: argparse.Namespace) -> dict:
    """:func:`rendering` of a command line of :func:`parser`, its defaults filled in as write_dataset fills them."""
    labels = args.labels or list(LABELS)
    return rendering(labels=labels, kind=args.kind, count=len(labels) * args.clips_per_class, seed=args.seed,
                     subjects=parse_range(args.subjects), views=parse_range(args.views), frames=args.frames,
                     fps=args.fps, size=parse_hw(args.size) if args.kind == 'clips' else None,
                     modes=args.modes or list(CAMERA_MODES),
                     model_size=parse_hw(args.model_size), hfov_range=args.hfov_range, partners=args.partners,
                     world=args.world)


def holds(out, args: argparse.Namespace) -> bool:
    """Whether folder ``out`` holds, whole (its dataset.json is written last), the rendering ``args`` ask for."""
    info = json.loads((Path(out) / 'dataset.json').read_text())
    if not isinstance(info, dict):
        raise ValueError('dataset.json does not hold a JSON object')
    info.setdefault('kind', 'clips')           # written before stream windows existed
    info.setdefault('world', 4)                # written before world round 5, by round 4
    want = requested(args)
    return {k: info.get(k) for k in want} == want and all((k in info) == (k in want) for k in OPTIONAL)


def partner_pool(partners: str, subjects) -> tuple | None:
    """The subjects a scene's second person is drawn from: None (any other of the 40) for ``'any'``, the
    rendered ``subjects`` for ``'split'``."""
    if partners not in PARTNERS:
        raise DatasetError(f'partners must be one of {PARTNERS}, got {partners!r}')
    if partners == 'any':
        return None
    pool = tuple(sorted({int(s) for s in subjects}))
    if len(pool) < 2:
        raise DatasetError(f"partners 'split' needs two or more subjects to draw a second person from, got {list(pool)}")
    return pool


def write_dataset(out, *, clips_per_class=10, subjects=None, views=None, frames=16, size=(120, 160),
                  fps=10.0, seed=0, workers=1, progress=None, kind='clips', modes=None, model_size=(60, 80),
                  labels=None, hfov_range=None, partners='any', world=WORLD) -> Path:
    """``labels``: a subset of the classes (default all), in the order their label ids take. ``hfov_range``:
    stream windows' horizontal fields of view, (low, high) degrees, instead of each mode's nominal one
    (:func:`stream_camera`). ``partners``: whom the second person of a scene (a partner in a two-person
    action, or a bystander) is: ``'any'`` other of the 40 subjects (as since world round 4), or one of the folder's own
    ``subjects`` (``'split'``): a training folder rendered with only the training split's subjects then shows
    no held-out person, not even as somebody's partner. ``world``: the world round (:data:`WORLDS`)."""
    labels = list(labels or LABELS)
    unknown = [lab for lab in labels if lab not in LABELS]
    if unknown or len(set(labels)) != len(labels) or len(labels) < 2:
        raise DatasetError(f'labels must be two or more distinct classes of {LABELS}, got {labels}')
    if hfov_range is not None:
        if kind != 'stream':
            raise DatasetError('a field-of-view range is for stream windows (kind stream)')
        hfov_range = [float(v) for v in hfov_range]
        if len(hfov_range) != 2 or not 30 <= hfov_range[0] <= hfov_range[1] <= 120:
            raise DatasetError(f'field-of-view range must be LOW HIGH degrees, 30 <= LOW <= HIGH <= 120, '
                               f'got {hfov_range}')
    if world not in WORLDS:
        raise DatasetError(f'world must be one of the rounds {WORLDS}, got {world!r}')
    subjects = subjects or list(range(1, N_SUBJECTS + 1))
    pool = partner_pool(partners, subjects)
    out = Path(out)
    (out / 'clips').mkdir(parents=True, exist_ok=True)
    views = views or list(range(N_VIEWS))
    specs = plan(clips_per_class, subjects, views, seed, labels)
    if kind == 'stream':
        modes = list(modes or CAMERA_MODES)
        unknown = [m for m in modes if m not in CAMERA_MODES]
        if unknown:
            raise DatasetError(f'unknown camera modes {unknown}; expected some of {sorted(CAMERA_MODES)}')
        rng = np.random.default_rng([seed, 5])
        for s in specs:
            s['mode'] = modes[int(rng.integers(len(modes)))]
        jobs = [(i, s, str(out), frames, fps, tuple(model_size), labels, hfov_range, pool, world)
                for i, s in enumerate(specs)]
        render = _render_stream_one
    elif kind == 'clips':
        jobs = [(i, s, str(out), frames, tuple(size), fps, labels, pool, world) for i, s in enumerate(specs)]
        render = _render_one
    else:
        raise DatasetError(f"kind must be 'clips' or 'stream', got {kind!r}")
    t0 = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            records = list(pool.map(render, jobs, chunksize=8))
    else:
        records = [render(j) for j in jobs]
    seconds = time.perf_counter() - t0
    with open(out / 'manifest.jsonl', 'w') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')
    info = {'format': FORMAT, 'alarm_labels': [a for a in ALARM_LABELS if a in labels],
            'object_labels': [a for a in OBJECT_LABELS if a in labels], 'render_seconds': round(seconds, 2),
            **rendering(labels=labels, kind=kind, count=len(records), seed=seed, subjects=subjects, views=views,
                        frames=frames, fps=fps, size=size, modes=modes, model_size=model_size, hfov_range=hfov_range,
                        partners=partners, world=world)}
    # Written last and renamed into place: a folder with its dataset.json is a whole rendering.
    with atomic_path(out / 'dataset.json') as tmp:
        tmp.write_text(json.dumps(info, indent=2))
    if progress:
        progress(f'wrote {len(records)} clips to {out} in {seconds:.1f} s '
                 f'({len(records) * frames / seconds:.0f} RGB-D frames/s)')
    return out


@dataclass
class SyntheticDataset:
    """Read access to a written dataset: ``records`` (manifest lines) and :meth:`load`."""

    root: Path
    info: dict
    records: list

    @classmethod
    def open(cls, root) -> 'SyntheticDataset':
        root = Path(root)
        info_path, manifest = root / 'dataset.json', root / 'manifest.jsonl'
        for p in (info_path, manifest):
            if not p.is_file():
                raise DatasetError(f'{p}: missing (not a synthetic dataset folder?)')
        try:
            info = json.loads(info_path.read_text())
        except json.JSONDecodeError as e:
            raise DatasetError(f'{info_path}: not valid JSON ({e})') from None
        if info.get('format') != FORMAT:
            raise DatasetError(f'{info_path}: format {info.get("format")!r} is not {FORMAT!r}')
        records = []
        with open(manifest) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError:
                        raise DatasetError(f'{manifest}:{n}: not valid JSON') from None
        return cls(root=root, info=info, records=records)

    def __len__(self) -> int:
        return len(self.records)

    def load(self, i: int):
        """(depth (T,H,W) uint16, rgb (T,H,W,3) uint8, record) of clip ``i``."""
        rec = self.records[i]
        path = self.root / rec['path']
        try:
            with np.load(path) as z:
                depth, rgb = z['depth'], z['rgb']
        except FileNotFoundError:
            raise DatasetError(f'{path}: clip file missing') from None
        except Exception as e:  # noqa: BLE001 - zip/npy errors of a damaged file
            raise DatasetError(f'{path}: unreadable clip ({e})') from None
        if depth.shape[0] != rgb.shape[0] or depth.shape[1:] != rgb.shape[1:3]:
            raise DatasetError(f'{path}: depth {depth.shape} and rgb {rgb.shape} are not paired frame for frame')
        return depth, rgb, rec


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description='Render a synthetic paired RGB-D action dataset.')
    p.add_argument('--out', required=True, help='dataset folder to create')
    p.add_argument('--clips-per-class', type=int, default=50, help='clips rendered for each of the classes')
    p.add_argument('--subjects', default=f'1-{N_SUBJECTS}', help='subject ids to use, e.g. 1-30')
    p.add_argument('--views', default=f'0-{N_VIEWS - 1}', help='camera view ids to use, e.g. 0-3')
    p.add_argument('--labels', nargs='+', default=None, choices=LABELS, help='render only these classes')
    p.add_argument('--frames', type=int, default=16, help='frames per clip')
    p.add_argument('--kind', default='clips', choices=('clips', 'stream'),
                   help='clips: one action from its onset; stream: windows cut from continuous scenarios')
    p.add_argument('--size', default='120x160', help='HEIGHTxWIDTH (clips)')
    p.add_argument('--modes', nargs='+', default=None, choices=sorted(CAMERA_MODES),
                   help='stream: camera modes to draw from (default all)')
    p.add_argument('--model-size', default='60x80', help='stream: HEIGHTxWIDTH of the model input the rendering '
                   'decimates for')
    p.add_argument('--hfov-range', nargs=2, type=float, default=None, metavar=('LOW', 'HIGH'),
                   help="stream: draw the cameras' horizontal field of view from LOW-HIGH degrees (default: "
                        "within 5 degrees of each mode's nominal one)")
    p.add_argument('--partners', default='any', choices=PARTNERS,
                   help="the second person of a scene (partner or bystander): any other of the 40 subjects "
                        "(as since world round 4), or one of --subjects ('split'; render a training folder with the training "
                        "split's --subjects, and no held-out person is in it)")
    p.add_argument('--world', type=int, default=WORLD, choices=WORLDS,
                   help='world round to render (default %(default)s; 4: the round before furniture was kept out '
                        "of the camera's way, which the shipped model's folders were rendered in)")
    p.add_argument('--fps', type=float, default=10.0, help='frame rate of the clips')
    p.add_argument('--seed', type=int, default=0, help='dataset seed (same seed, same dataset)')
    p.add_argument('--workers', type=int, default=1, help='rendering processes')
    p.add_argument('--check', action='store_true', help='render nothing: exit 0 if --out holds this rendering '
                   '(its dataset.json), 3 if it holds another, 2 if it holds none or cannot be read')
    return p


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.check:
        try:
            return 0 if holds(args.out, args) else 3
        except (OSError, ValueError) as e:              # no dataset.json, or not JSON
            print(f'dataset: error: {args.out}: cannot check the rendering ({e})', file=sys.stderr)
            return 2
    h, w = parse_hw(args.size)
    mh, mw = parse_hw(args.model_size)
    try:
        write_dataset(args.out, clips_per_class=args.clips_per_class, subjects=parse_range(args.subjects),
                      views=parse_range(args.views), frames=args.frames, size=(h, w), fps=args.fps, seed=args.seed,
                      workers=args.workers, progress=print, kind=args.kind, modes=args.modes, model_size=(mh, mw),
                      labels=args.labels, hfov_range=args.hfov_range, partners=args.partners, world=args.world)
    except DatasetError as e:
        p.error(str(e))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
