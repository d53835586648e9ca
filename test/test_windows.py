"""Recorded videos train on windows at several phases (one drawn per epoch), with teacher targets of the window
drawn: the paired-folder source, the teacher cache, the epoch draws and a distillation run, on recordings
written here."""
import json
import os

import cv2
import numpy as np
import pytest
import torch
import yaml

from depth_action_recognition.errors import ConfigError
from depth_action_recognition.preprocess import PreprocessSpec
from depth_action_recognition.sampling import spread_index
from depth_action_recognition.synthetic import LABELS
from test_folder_formats import live_clips
from training import cache, distill
from training.data import PairedClips, RecordingWindows, open_source, read_in_order, split_from_flags
from training.train_teacher import load_teacher

CAMERA_FPS, SECONDS = 30, 1.5          # 45 frames; at 10 fps 15 sampled frames: 8 clips of 8 frames


def write_recordings(root, rows):
    """A paired folder of 30 fps recordings: frame k has depth 1000 + k at pixel (0, 0) and a bright block that
    moves across the image (depth and RGB), so every window of a recording looks different."""
    root.mkdir(parents=True, exist_ok=True)
    (root / 'labels.yaml').write_text(yaml.safe_dump({'labels': LABELS, 'alarm_labels': [], 'camera_fps': CAMERA_FPS}))
    lines = ['clip,label,subject,view']
    for n, (label, subject, view) in enumerate(rows):
        clip = root / f'rec{n:02d}'
        (clip / 'depth').mkdir(parents=True)
        (clip / 'rgb').mkdir()
        for k in range(int(CAMERA_FPS * SECONDS)):
            depth = np.full((30, 40), 3000 + 40 * n, np.uint16)
            rgb = np.full((30, 40, 3), 40 + 7 * n, np.uint8)
            x = (k * 2 + 3 * n) % 32
            depth[8:22, x:x + 8] = 1200
            rgb[8:22, x:x + 8] = (250, 30 * (k % 8), 90)
            depth[0, 0] = 1000 + k
            cv2.imwrite(str(clip / 'depth' / f'{k:06d}.png'), depth)
            cv2.imwrite(str(clip / 'rgb' / f'{k:06d}.jpg'), rgb)
        lines.append(f'{clip.name},{LABELS[label]},{subject},{view}')
    (root / 'clips.csv').write_text('\n'.join(lines) + '\n')
    return root


@pytest.fixture(scope='module')
def recordings(tmp_path_factory):
    rows = [(label, subject, view) for label in range(3) for subject in (1, 2, 3) for view in (0, 1)]
    return write_recordings(tmp_path_factory.mktemp('recordings') / 'data', rows)


def test_spread_windows_cover_a_recording_from_start_to_end():
    assert [spread_index(8, k, 3) for k in range(3)] == [1, 4, 6]
    assert [spread_index(100, k, 4) for k in range(4)] == [12, 37, 62, 87]
    assert [spread_index(2, k, 3) for k in range(3)] == [0, 1, 1]        # fewer clips than windows: repeats
    with pytest.raises(ConfigError, match='window 3 of 3'):
        spread_index(8, 3, 3)


def test_a_recording_gives_its_windows_as_the_live_buffer_cuts_them(recordings):
    src = open_source(recordings, frames=8)
    assert src.recorded and src.fps == 10.0
    times = 100.0 + np.arange(int(CAMERA_FPS * SECONDS)) / CAMERA_FPS     # frame k at k / 30 s (a live stamp > 0)
    live = live_clips(times, src.fps, 8)
    assert len(live) == 8
    got = [(src.load(0, spread=(k, 3))[0][:, 0, 0] - 1000).tolist() for k in range(3)]
    assert got == [live[1], live[4], live[6]]                                # early, middle and late phases
    assert (src.load(0)[0][:, 0, 0] - 1000).tolist() == live[3]            # evaluation: the centre clip


def test_teacher_cache_holds_every_window_and_flip_of_the_view_drawn(recordings, teacher, tmp_path):
    path = tmp_path / 'cache.safetensors'
    assert cache.main(['--data', str(recordings), '--teacher-checkpoint', str(teacher), '--train-subjects', '1-2',
                       '--train-views', '0-1', '--frames', '8', '--windows', '3', '--device', 'cpu',
                       '--out', str(path)]) == 0
    source = open_source(recordings, frames=8)
    idx = split_from_flags('1-2', '0-1').select(source.records)
    stored = cache.load(path, cache.cache_key(teacher, source, idx, cache.MAP_STAGES, 3))
    assert stored['indices'].tolist() == idx and stored['logits'].shape[:2] == (len(idx), 6)
    targets = cache.TeacherTargets(stored, idx, 2)
    net, meta = load_teacher(teacher)
    row = 2
    outs = []
    for w in range(3):
        clip = PairedClips(source, [idx[row]], PreprocessSpec(frames=8, crop=meta.get('fit', 'none')),
                           rgb_size=tuple(meta['rgb_size']), modalities=('rgb',),
                           rgb_frame_step=meta['rgb_frame_step'], window=(w, 3))[0]['rgb'][None]
        for flip in (0, 1):
            with torch.no_grad():
                want = net.outputs(clip.flip(-1) if flip else clip, (2, 3))
            got = targets(torch.tensor([row]), torch.tensor([bool(flip)]), torch.tensor([w]))
            assert torch.allclose(got['logits'][0], want['logits'][0], atol=2e-2, rtol=1e-2), (w, flip)
            assert torch.allclose(got['map'][0], want['map2'][0], atol=2e-2, rtol=1e-2), (w, flip)
            outs.append(want['map2'][0])
    assert not torch.allclose(outs[0], outs[4], atol=2e-2)                # the windows are different views
    # a cache of another window count is another cache
    with pytest.raises(cache.CacheError, match='stale'):
        cache.load(path, cache.cache_key(teacher, source, idx, cache.MAP_STAGES, 2))


def test_each_epoch_draws_one_window_per_clip_the_same_on_every_rank():
    x = torch.arange(5 * 3, dtype=torch.float16).view(5, 3, 1, 1, 1, 1)
    torch.manual_seed(0)                                         # ranks seed their global generators differently
    a = distill.WindowDraws(x, torch.zeros(5, dtype=torch.long), seed=7)
    torch.manual_seed(1)
    b = distill.WindowDraws(x, torch.zeros(5, dtype=torch.long), seed=7)
    draws = []
    for epoch in range(12):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        assert torch.equal(a.drawn, b.drawn)                          # DDP ranks agree on the windows
        for j in range(5):
            clip, _, row, w = a[j]
            assert row == j and clip.item() == x[j, w].item()         # the item is the window it reports
        draws.append(a.drawn.tolist())
    for first in range(0, 12, 3):                                     # every phase of every clip in every 3 epochs
        assert all(sorted(d[j] for d in draws[first:first + 3]) == [0, 1, 2] for j in range(5))
    assert len({tuple(d) for d in draws[:3]}) == 3 and len(set(draws[0])) > 1   # not one window for all clips


def test_a_run_on_recordings_trains_on_their_windows(recordings, teacher, tmp_path, tiny_data):
    out = tmp_path / 'run'
    assert distill.main(['--data', str(recordings), '--teacher-checkpoint', str(teacher), '--method', 'mix',
                         '--stage', 'stage2', '--train-subjects', '1-2', '--train-views', '0-1', '--test-subjects', '3',
                         '--test-views', '1', '--frames', '8', '--height', '24', '--width', '32', '--batch-size', '4',
                         '--epochs', '2', '--windows', '3', '--device', 'cpu', '--out', str(out)]) == 0
    m = json.loads((out / 'metrics.json').read_text())
    assert m['windows'] == 3 and m['train_clips'] == 10                 # 12, less every 10th held out to validate
    assert json.loads(cache.read_key(out / 'teacher_cache.safetensors'))['windows'] == 3
    # synthetic clips are one window each: the flag does not multiply them
    assert cache.windows_for(open_source(tiny_data), 3) == 1 and cache.windows_for(open_source(recordings), 3) == 3


class Recordings:
    """A source of recordings that keeps no files: recording i, window k is a clip of depth 1000 + 300 i + 100 k mm;
    recording 1 cannot be read (as an NTU sample with missing frames is skipped)."""

    recorded, fps, frames, labels = True, 10.0, 4, ['a', 'b']
    records = [{'label_id': i % 2, 'subject': 1, 'view': 0, 'path': f'r{i}'} for i in range(4)]

    def unreadable(self, i, k):
        return i == 1

    def width(self, i):
        return 16

    def load(self, i, rng=None, spread=None):
        from training.errors import SkippedSample
        k = spread[0] if spread else 1
        if self.unreadable(i, k):
            raise SkippedSample(f'r{i}: unreadable window {k}')
        w = self.width(i)
        return np.full((4, 12, w), 1000 + 300 * i + 100 * k, np.uint16), np.zeros((4, 12, w, 3), np.uint8)


class LoggedRecordings(Recordings):
    """Recordings whose every read is logged as 'pid recording window' (appends of one short line are whole)."""

    def __init__(self, log):
        self.log = log

    def load(self, i, rng=None, spread=None):
        with open(self.log, 'a') as f:
            f.write(f'{os.getpid()} {i} {spread[0] if spread else 1}\n')
        return super().load(i, rng, spread)


def reads(log):
    return [tuple(map(int, line.split())) for line in open(log)]


def test_loader_workers_decode_the_same_windows_in_the_same_order(tmp_path):
    spec = PreprocessSpec(frames=4, height=12, width=16, min_depth_m=0.0, max_depth_m=4.0)
    here = distill.loaded_windows(LoggedRecordings(tmp_path / 'here'), [3, 0, 1, 2], spec, 'key-here', 3)
    apart = distill.loaded_windows(LoggedRecordings(tmp_path / 'apart'), [3, 0, 1, 2], spec, 'key-apart', 3, workers=2)
    assert here[2] == apart[2] == [3, 0, 2] and here[3] == apart[3] == 1
    assert torch.equal(here[0], apart[0]) and torch.equal(here[1], apart[1])
    assert len(reads(tmp_path / 'here')) == 1 + 12      # the same reads, here
    # here: the dataset's check of its first clip only; the 4 x 3 windows in the workers
    main = [r for r in reads(tmp_path / 'apart') if r[0] == os.getpid()]
    assert len(main) == 1 and len(reads(tmp_path / 'apart')) == 1 + 12


def test_a_recordings_windows_are_read_by_one_worker_and_the_workers_share_the_recordings(tmp_path):
    spec = PreprocessSpec(frames=4, height=12, width=16, min_depth_m=0.0, max_depth_m=4.0)
    ds = RecordingWindows(LoggedRecordings(tmp_path / 'log'), [0, 2, 3], spec, 3, modalities=('depth',))
    (tmp_path / 'log').unlink()                     # the constructor's check of the first clip
    # 4 clips a hand-over, rounded down to whole recordings (3 windows): a batch of 4 would split recording 1
    groups = list(read_in_order(ds, workers=2, group=3, per_batch=4))
    assert [[(it['index'], it['window']) for it in g] for g in groups] == [[(k, w) for w in range(3)] for k in range(3)]
    by_recording = {}
    for pid, i, _ in reads(tmp_path / 'log'):
        by_recording.setdefault(i, set()).add(pid)
    assert sorted(by_recording) == [0, 2, 3] and all(len(p) == 1 for p in by_recording.values())
    assert len(set.union(*by_recording.values())) == 2 and os.getpid() not in set.union(*by_recording.values())


def test_an_unreadable_recording_is_left_out_of_every_window_and_the_rest_keep_their_rows():
    spec = PreprocessSpec(frames=4, height=12, width=16, min_depth_m=0.0, max_depth_m=4.0)
    x, y, kept, skipped, widths = distill.loaded_windows(Recordings(), [0, 1, 2, 3], spec, 'key', 3)
    assert kept == [0, 2, 3] and skipped == 1 and x.shape == (3, 3, 1, 4, 12, 16) and y.tolist() == [0, 0, 1]
    assert widths is None                           # one camera size: no per-clip widths
    for row, i in enumerate(kept):
        for k in range(3):
            want = 1 - (1000 + 300 * i + 100 * k) / 4000          # near -> 1, far (4 m) -> 0
            assert abs(float(x[row, k].float().mean()) - want) < 1e-3, (i, k)


class WideRecordings(Recordings):
    """Recording 2 from a 16:9 camera (12x21); recording 1 16:9 too, with its last window unreadable."""

    def unreadable(self, i, k):
        return i == 1 and k == 2

    def width(self, i):
        return 21 if i in (1, 2) else 16


def test_a_wider_recording_arriving_late_widens_the_store_and_keeps_the_earlier_rows():
    spec = PreprocessSpec(frames=4, height=12, width=16, min_depth_m=0.0, max_depth_m=4.0, crop='extend')
    x, y, kept, skipped, widths = distill.loaded_windows(WideRecordings(), [0, 2, 3], spec, 'key-wide', 3)
    assert kept == [0, 2, 3] and skipped == 0 and x.shape == (3, 3, 1, 4, 12, 21)
    assert widths.tolist() == [16, 21, 16]
    for row, i in enumerate(kept):
        for k in range(3):
            want = 1 - (1000 + 300 * i + 100 * k) / 4000
            clip = x[row, k].float()
            assert abs(float(clip[..., :int(widths[row])].mean()) - want) < 1e-3, (i, k)   # the earlier rows kept
            assert not clip[..., int(widths[row]):].any()                                  # padded with zeros


def test_a_store_widened_by_a_recording_left_out_is_trimmed_back():
    spec = PreprocessSpec(frames=4, height=12, width=16, min_depth_m=0.0, max_depth_m=4.0, crop='extend')
    x, y, kept, skipped, widths = distill.loaded_windows(WideRecordings(), [0, 1, 3], spec, 'key-trim', 3)
    assert kept == [0, 3] and skipped == 1
    assert x.shape == (2, 3, 1, 4, 12, 16) and widths is None       # one width left: no per-clip widths
    assert abs(float(x[1, 0].float().mean()) - (1 - 1900 / 4000)) < 1e-3     # recording 3 moved up a row, whole


def test_every_recording_left_out_after_its_first_window_leaves_an_empty_set_not_a_crash():
    spec = PreprocessSpec(frames=4, height=12, width=16, min_depth_m=0.0, max_depth_m=4.0, crop='extend')
    x, y, kept, skipped, widths = distill.loaded_windows(WideRecordings(), [1], spec, 'key-none', 3)
    assert kept == [] and skipped == 1 and len(y) == 0 and widths is None      # main then says "no readable clips"
