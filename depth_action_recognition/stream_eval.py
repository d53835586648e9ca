"""Streaming evaluation, offline and as fast as the CPU goes: random scenarios played through the node's path.

    python -m depth_action_recognition.stream_eval --model models/default.safetensors --minutes 20 \
        --seeds 0 1 2 --size 640x480 --subjects 31-40 --views 0-3 [--report-json out.json]

A simulated depth camera (the camera simulator's :class:`ScenarioCamera`, a random playlist of 3-6 s
actions at ``--camera-fps``) is played frame by frame through what the recognizer node runs: its
:class:`ClipBuffer` (the frame sampler, ``stride`` from the params file), its preprocessing in the same two
halves (:func:`reduce_frame` per frame, :func:`finish_frames` a few at a time), the model in an
:class:`InferenceEngine`, and its :class:`ClipSmoother` (``smooth_clips``) and :class:`AlarmPolicy` with the params file's thresholds, the policy's
clock advanced in 0.25 s steps as the node's housekeeping timer does. Frames the sampler will not keep
are never rendered (the node does not decode them either), so 20 minutes of a 30 fps stream take a few
minutes. Each seed is one camera: a subject from ``--subjects`` seen from a view of
``--views`` (held-out subjects: 31-40 in views 0-3; the held-out view: subjects 1-30 in view 4).
Scored by :class:`~depth_action_recognition.evaluation.OnlineEvaluator`, the scorer of the live
``depth-action-monitor --evaluate``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from . import params as node_params
from .alarm_policy import AlarmPolicy
from .checkpoint import load_checkpoint
from .clip_buffer import ClipBuffer
from .engine import InferenceEngine
from .errors import DepthActionError
from .evaluation import OnlineEvaluator, earliest_alarm_s, format_report
from .preprocess import finish_frames, reduce_frame
from .smoothing import ClipSmoother
from .resources import default_model_path, default_params_file
from .events import stamp_dict
from .synthetic.dataset import PARTNERS, parse_range, partner_pool
from .synthetic.scenario import random_playlist
from .synthetic.actions import ACTIONS
from .synthetic.scene import WORLD, WORLDS
from .synthetic.stream import ScenarioCamera

T0 = 1_000.0          # stream clock at the first frame: any positive time (stamp 0 means "no stamp")
TICK_S = 0.25         # the node's housekeeping period: alarms expire on this grid


def recognizer_params(path) -> dict:
    doc = yaml.safe_load(Path(path).read_text()) or {}
    return doc.get('depth_action_recognizer', {}).get('ros__parameters', {})


def with_defaults(params: dict) -> dict:
    """A params file's values over the node's declared defaults: every parameter the node would run with."""
    return {**{k: v.default for k, v in node_params.PARAMS.items()}, **params}


def node_settings(params: dict, loaded) -> node_params.Settings:
    """What the node would run with these parameters, checked and resolved against the model by the node's
    own :func:`params.resolve`."""
    return node_params.resolve(with_defaults(params), loaded)


def earliest_alarm(s: node_params.Settings) -> float:
    """The scorer's earliest possible alarm (:func:`earliest_alarm_s`), as ``depth-action-monitor --evaluate``."""
    return earliest_alarm_s(s.clip_length, s.fps, s.stride, s.alarm.k)


def scenario(seed: int, minutes: float, size: tuple, subjects: list, views: list, hfov=None,
             partners: str = 'any', world: int = WORLD) -> ScenarioCamera:
    """The simulated camera of seed ``seed``: a random playlist of ``minutes``, a subject of ``subjects`` seen
    from a view of ``views``, in world round ``world``."""
    rng = np.random.default_rng([seed, 8080])
    n_segments = int(minutes * 60 / 3.0) + 2
    playlist = [(s.action, s.duration) for s in random_playlist(rng, n=n_segments)]
    subject, view = int(rng.choice(subjects)), int(rng.choice(views))
    return ScenarioCamera(playlist, seed=seed, size=size, subject=subject, view=view, loop=False, hfov=hfov,
                          partners=partner_pool(partners, subjects), world=world)


@dataclass(frozen=True)
class ClipTimes:
    """What scoring needs of a clip: its window and its clip-buffer run (not its frames)."""
    start_stamp: float
    end_stamp: float
    run: int


@dataclass
class Recording:
    """What the node's path made of one scenario, before smoothing and alarms: the ground truth of every camera
    frame, the clips the buffer cut, and the model's probabilities for each."""
    truth: list                 # (stamp, label) per camera frame
    clips: list                 # ClipTimes
    probs: np.ndarray
    end: float                  # stamp at which the camera stopped
    timing: tuple               # (clip_length, stride, fps, max_gap_s) the clips were cut with: scoring keeps them


def record(loaded, engine, settings: node_params.Settings, cam: ScenarioCamera, *, minutes: float,
           camera_fps: float = 30.0) -> Recording:
    """Play ``cam`` through the node's clip buffer, preprocessing and model (clips inferred as one batch)."""
    spec = loaded.meta.preprocess
    shape = None                        # the rendered frames' size, known from the first one

    def finish(frames):                 # the node's path: frames reduced as they come, finished a few at a time
        return finish_frames(frames, shape, 0.001, spec)
    buffer = ClipBuffer(settings.clip_length, settings.stride, target_fps=settings.fps, max_gap_s=settings.max_gap_s,
                        finish=finish)
    key = (cam.size, '16UC1')
    truth, clips = [], []
    n_frames = int(minutes * 60 * camera_fps)
    for k in range(n_frames):
        t = k / camera_fps
        label = cam.label_at(t)
        if label is None:
            break
        stamp = T0 + t
        truth.append((stamp, label))
        if not buffer.admit(stamp, key):
            continue
        depth, _ = cam.render(t, k)
        shape = depth.shape
        clip = buffer.add(reduce_frame(depth, spec), stamp)
        if clip is not None:
            clips.append(clip)
    probs = engine.infer(np.stack([c.frames for c in clips])) if clips else np.zeros((0, len(loaded.meta.labels)))
    return Recording(truth=truth, clips=[ClipTimes(c.start_stamp, c.end_stamp, c.run) for c in clips], probs=probs,
                     end=T0 + n_frames / camera_fps, timing=timing_of(settings))


def timing_of(settings: node_params.Settings) -> tuple:
    return settings.clip_length, settings.stride, settings.fps, settings.max_gap_s


def smoothed(rec: Recording, labels: list, smooth_clips: int, camera: str = '/camera'):
    """(clip, winning label, the score the alarm rule is given) of each of ``rec``'s clips, smoothed as the node's
    :class:`ClipSmoother` does (the score is 0 while the mean is not full)."""
    smoother = ClipSmoother(smooth_clips)
    for clip, p in zip(rec.clips, rec.probs):
        best, _, alarm_score = smoother.update(camera, p, clip.run).winner()
        yield clip, labels[best], alarm_score


def score(rec: Recording, labels: list, settings: node_params.Settings, evaluator: OnlineEvaluator,
          camera: str = '/camera') -> None:
    """Feed ``evaluator`` the ground truth, and the events and alarms the node's :class:`ClipSmoother` and
    :class:`AlarmPolicy` make of ``rec``'s probabilities with ``settings``, the policy's clock advanced in 0.25 s
    steps as the node's housekeeping timer does. One recording can be scored with several settings of smoothing
    and alarms; settings that would cut other clips (clip length, stride, fps, gap) are refused."""
    if timing_of(settings) != rec.timing:
        raise ValueError(f'the recording was cut with (clip_length, stride, fps, max_gap_s) {rec.timing}; these '
                         f'settings would cut {timing_of(settings)}: record the stream again')
    for stamp, label in rec.truth:
        evaluator.add_ground_truth({'camera': camera, 'stamp': stamp_dict(stamp), 'label': label,
                                    'alarm': ACTIONS[label].alarm})
    policy = AlarmPolicy(settings.alarm)
    pending = list(smoothed(rec, labels, settings.smooth_clips, camera))
    tick, j = T0, 0
    while tick <= rec.end + settings.alarm.clear_after_s + TICK_S:
        while j < len(pending) and pending[j][0].end_stamp <= tick:
            clip, label, alarm_score = pending[j]
            _, transitions = policy.update(camera, label, alarm_score, clip.end_stamp, camera)
            evaluator.add_event({'camera': camera, 'label': label,
                                 'window': {'start': clip.start_stamp, 'end': clip.end_stamp}})
            for doc in transitions:
                evaluator.add_alarm(doc)
            j += 1
        for doc in policy.expire(lambda _source, now=tick: now):
            evaluator.add_alarm(doc)
        tick += TICK_S


def play(loaded, engine, params: dict, *, seed: int, minutes: float, size: tuple, subjects: list, views: list,
         camera_fps: float = 30.0, hfov=None, evaluator: OnlineEvaluator, camera: str = '/camera',
         partners: str = 'any', world: int = WORLD) -> dict:
    """Play one random scenario into ``evaluator``; returns counts of what happened."""
    cam = scenario(seed, minutes, size, subjects, views, hfov, partners, world)
    settings = node_settings(params, loaded)
    rec = record(loaded, engine, settings, cam, minutes=minutes, camera_fps=camera_fps)
    own = OnlineEvaluator(tolerance_s=evaluator.tolerance_s, detect_s=evaluator.detect_s)     # this stream alone
    score(rec, list(loaded.meta.labels), settings, own, camera)
    evaluator.extend(own)
    r = own.report()
    return {'seed': seed, 'subject': cam.subject, 'view': cam.view, 'frames': int(minutes * 60 * camera_fps),
            'clips': len(rec.clips), 'windows_pure': r['windows_pure'], 'top1_pure': r['top1_pure'],
            'alarm_episodes': r['alarm_episodes'], 'missed': len(r['missed_episodes'])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', type=Path, default=None, help='student .safetensors (default: the shipped model)')
    p.add_argument('--params-file', type=Path, default=None, help='recognizer parameters (default: config/monitor.yaml)')
    p.add_argument('--minutes', type=float, default=5.0, help='stream length per seed')
    p.add_argument('--seeds', nargs='+', type=int, default=[0], help='one random scenario and camera per seed')
    p.add_argument('--size', default='120x160', help='camera HEIGHTxWIDTH, e.g. 480x848')
    p.add_argument('--hfov', type=float, default=None, help='horizontal field of view in degrees (default: 55-65)')
    p.add_argument('--camera-fps', type=float, default=30.0, help='camera frame rate')
    p.add_argument('--subjects', default='31-40', help='subjects drawn for the scenarios')
    p.add_argument('--views', default='0-3', help='camera views drawn for the scenarios')
    p.add_argument('--partners', default='any', choices=PARTNERS,
                   help="the second person of a scene: any other of the 40 subjects, or one of --subjects "
                        "(held-out subjects with held-out partners)")
    p.add_argument('--world', type=int, default=WORLD, choices=WORLDS,
                   help='world round the scenarios are rendered in (default %(default)s; recorded in the report)')
    p.add_argument('--device', default='cpu', help='auto, cuda or cpu')
    p.add_argument('--report-json', type=Path, default=None, help='also write the report here')
    args = p.parse_args(argv)
    try:
        h, w = (int(v) for v in args.size.lower().split('x'))
        loaded = load_checkpoint(args.model or default_model_path())
        params = recognizer_params(args.params_file or default_params_file())
        settings = node_settings(params, loaded)                # a bad parameter, named now
        engine = InferenceEngine(loaded, args.device, max_batch=settings.max_batch, flip_average=settings.flip_average)
        partner_pool(args.partners, parse_range(args.subjects))     # a split of one subject, named now
    except (DepthActionError, OSError, ValueError) as e:
        print(f'stream_eval: error: {e}', file=sys.stderr)
        return 2
    evaluator = OnlineEvaluator(detect_s=earliest_alarm(settings))
    t0 = time.time()
    runs = [play(loaded, engine, params, seed=s, minutes=args.minutes, size=(h, w), subjects=parse_range(args.subjects),
                 views=parse_range(args.views), camera_fps=args.camera_fps, hfov=args.hfov, evaluator=evaluator,
                 camera=f'/camera{s}', partners=args.partners, world=args.world) for s in args.seeds]
    report = {**evaluator.report(), 'model': loaded.short_id, 'size': [h, w], 'runs': runs,
              'device': str(engine.device), 'params': with_defaults(params), 'partners': args.partners,
              'world': args.world,
              'seconds': round(time.time() - t0, 1)}
    print(f'{loaded.short_id} on {len(runs)} scenario(s) of {args.minutes:g} min at {w}x{h}, subjects {args.subjects}, '
          f'views {args.views}, partners {args.partners}, world round {args.world} ({report["seconds"]:.0f} s):')
    print(format_report(report))
    if len(runs) > 1:                   # where the misses are: streams differ far more than their mean shows
        print('per scenario:')
        for r in runs:
            top1 = 'n/a' if r['top1_pure'] is None else f"{100 * r['top1_pure']:.1f}%"
            print(f"  seed {r['seed']}: subject {r['subject']}, view {r['view']}: {top1} of {r['windows_pure']} "
                  f"windows inside one action, {r['alarm_episodes'] - r['missed']}/{r['alarm_episodes']} alarm "
                  'episodes caught')
        views = sorted({r['view'] for r in runs})
        if len(views) > 1:
            for v in views:
                rs = [r for r in runs if r['view'] == v]
                n = sum(r['windows_pure'] for r in rs)
                ok = sum(r['top1_pure'] * r['windows_pure'] for r in rs if r['top1_pure'] is not None)
                eps = sum(r['alarm_episodes'] for r in rs)
                print(f'  view {v} ({len(rs)} scenarios): {100 * ok / max(1, n):.1f}% of {n} windows inside one '
                      f"action, {eps - sum(r['missed'] for r in rs)}/{eps} alarm episodes caught")
    if args.report_json:
        args.report_json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
