"""NTU RGB+D loader on a format-faithful fixture written by the test (the real set cannot be fetched here)."""
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depth_action_recognition.clip_buffer import ClipBuffer
from depth_action_recognition.preprocess import PreprocessSpec, preprocess_clip
from training import ntu
from training.data import DataError, InMemory, PairedClips
from training.errors import SkippedSample
from training.ntu import NTU60_XSUB_TRAIN, NTUSource, label_preset, official_split, parse_name

ROOT = Path(__file__).resolve().parents[1]


def write_sample(root, name, n=20, masked=True, rgb=True):
    """Depth frame i holds a person-sized blob at 2500 + i mm; RGB frame i is grey at 5 i + 10 (readable for n <= 50)."""
    folder = root / ('nturgb+d_depth_masked' if masked else 'nturgb+d_depth') / name
    folder.mkdir(parents=True)
    prefix = 'MDepth' if masked else 'Depth'
    for i in range(n):
        d = np.zeros((424, 512), np.uint16)
        d[150:350, 200 + i:260 + i] = 2500 + i          # a person-sized blob that moves
        cv2.imwrite(str(folder / f'{prefix}-{i + 1:08d}.png'), d)
    if rgb:
        (root / 'nturgb+d_rgb').mkdir(exist_ok=True)
        vw = cv2.VideoWriter(str(root / 'nturgb+d_rgb' / f'{name}_rgb.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 30,
                             (1920, 1080))
        for i in range(n):
            vw.write(np.full((1080, 1920, 3), (5 * i + 10) % 256, np.uint8))
        vw.release()


def frame_numbers(depth, rgb):
    """Which fixture frames a loaded clip holds, read back from the depth blob and the RGB grey level."""
    return depth.reshape(len(depth), -1).max(1).astype(int) - 2500, \
        np.round((np.median(rgb.reshape(len(rgb), -1), 1) - 10) / 5).astype(int)


def live_clips(n_frames, fps, frames):
    """The frame numbers of every clip the recognizer's buffer cuts from a 30 fps stream of n frames."""
    buf = ClipBuffer(frames, 1, target_fps=fps)
    clips = []
    for i in range(n_frames):
        t = 1000.0 + i / 30.0                        # a camera clock (a zero stamp is dropped)
        clip = buf.add(np.full((1, 1), i, np.float32), t) if buf.admit(t) else None
        if clip is not None:
            clips.append(clip.frames[:, 0, 0].astype(int).tolist())
    return clips


@pytest.fixture(scope='module')
def ntu_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('ntu')
    for name in ('S001C001P001R001A043', 'S001C002P003R001A001', 'S002C003P008R002A050', 'S001C001P002R001A061'):
        write_sample(root, name)
    return root


def test_names_splits_and_presets():
    r = parse_name('S017C003P020R002A060')
    assert (r['setup'], r['camera'], r['subject'], r['replication'], r['action']) == (17, 3, 20, 2, 60)
    with pytest.raises(DataError):
        parse_name('S1C1P1R1A1')
    assert official_split({'subject': 1}, 'ntu60-xsub') == 'train' and official_split({'subject': 3}, 'ntu60-xsub') == 'test'
    assert official_split({'camera': 1}, 'ntu60-xview') == 'test' and official_split({'camera': 2}, 'ntu60-xview') == 'train'
    assert official_split({'setup': 2}, 'ntu120-xset') == 'train' and official_split({'setup': 3}, 'ntu120-xset') == 'test'
    assert official_split({'subject': 45}, 'ntu120-xsub') == 'train' and len(NTU60_XSUB_TRAIN) == 20
    p60, p120 = label_preset(60), label_preset(120)
    assert len(p60['labels']) == 60 and len(p120['labels']) == 120 and p120['labels'][:60] == p60['labels']
    assert p60['labels'][42] == 'falling' and set(p60['alarm_labels']) <= set(p60['labels'])
    assert set(p120['alarm_labels']) <= set(p120['labels'])


def test_loads_paired_person_crops(ntu_root, tmp_path):
    src = NTUSource(ntu_root, classes=60, frames=4, cache_dir=tmp_path / 'cache')
    assert [r['path'] for r in src.records] == ['S001C001P001R001A043', 'S001C002P003R001A001', 'S002C003P008R002A050']
    assert src.records[0]['label_id'] == 42 and src.labels[42] == 'falling'
    depth, rgb = src.load(0)
    assert depth.shape == (4, 120, 160) and rgb.shape == (4, 120, 160, 3)
    assert depth.dtype == np.uint16 and (depth > 0).mean() > 0.1              # the crop is around the person
    cached = list((tmp_path / 'cache').rglob('*.npz'))
    assert [p.name for p in cached] == ['S001C001P001R001A043.npz'] and '10fps_120x160' in cached[0].parent.name
    with np.load(cached[0]) as z:                                              # the whole sampled stream
        np.testing.assert_allclose(z['times'], np.arange(0, 20, 3) / 30)
    again = src.load(0)                                                        # from the compact cache
    assert np.array_equal(again[0], depth) and np.array_equal(again[1], rgb)
    ds = PairedClips(src, [0, 1], PreprocessSpec(frames=4), modalities=('depth', 'rgb'))
    assert ds[0]['depth'].shape == (1, 4, 60, 80)
    assert len(NTUSource(ntu_root, classes=120, frames=8).records) == 4


@pytest.mark.parametrize('cached', [False, True])
def test_clips_are_the_frames_the_live_clip_buffer_cuts(tmp_path, cached):
    """Training and serving agree on clip timing: the loader's clips are clips of the live buffer."""
    write_sample(tmp_path, 'S001C001P001R001A043', n=50)
    src = NTUSource(tmp_path, frames=8, cache_dir=tmp_path / 'cache' if cached else None)
    assert src.fps == 10.0
    live = live_clips(50, src.fps, 8)
    assert live[0] == list(range(0, 24, 3)) and len(live) == 10             # every 3rd frame, 17 sampled
    depth_ix, rgb_ix = frame_numbers(*src.load(0))                            # evaluation: the centre clip
    assert depth_ix.tolist() == live[4] == list(range(12, 36, 3))
    assert rgb_ix.tolist() == depth_ix.tolist()                               # each depth frame with its RGB frame
    seen = set()
    for seed in range(8):                                                     # training: a random clip each time
        depth_ix, rgb_ix = frame_numbers(*src.load(0, np.random.default_rng(seed)))
        assert depth_ix.tolist() in live and rgb_ix.tolist() == depth_ix.tolist()
        seen.add(depth_ix[0])
    assert len(seen) >= 4


def test_a_sample_shorter_than_a_clip_repeats_its_last_frame(tmp_path):
    write_sample(tmp_path, 'S001C001P001R001A043', n=20)
    src = NTUSource(tmp_path, frames=8)
    depth_ix, rgb_ix = frame_numbers(*src.load(0))
    assert depth_ix.tolist() == rgb_ix.tolist() == [0, 3, 6, 9, 12, 15, 18, 18]
    assert src.padded == 1


def test_unreadable_samples_are_skipped_and_counted_not_blanked(ntu_root, tmp_path):
    write_sample(tmp_path, 'S001C001P001R001A001', rgb=False)
    write_sample(tmp_path, 'S001C001P001R001A002')
    write_sample(tmp_path, 'S001C001P001R001A003')
    (tmp_path / 'skip.txt').write_text('S001C001P001R001A003\n')
    src = NTUSource(tmp_path, frames=4, skip_list=tmp_path / 'skip.txt')
    assert [r['path'] for r in src.records] == ['S001C001P001R001A001', 'S001C001P001R001A002']
    with pytest.raises(SkippedSample, match='S001C001P001R001A001_rgb.avi'):
        src.load(0)
    ds = InMemory(PairedClips(src, [0, 1], PreprocessSpec(frames=4), modalities=('depth',)))
    assert len(ds) == 1 and ds.indices == [1] and len(ds.skipped) == 1 and '_rgb.avi' in ds.skipped[0]
    assert ds[0]['label'] == 1 and ds[0]['depth'].abs().sum() > 0
    # The unreadable sample second: the dataset's check of its first clip reads only the readable one here, and
    # the failing read happens in a worker (the source in this process never learns of it).
    fresh = NTUSource(tmp_path, frames=4, skip_list=tmp_path / 'skip.txt')
    apart = InMemory(PairedClips(fresh, [1, 0], PreprocessSpec(frames=4), modalities=('depth',)), workers=2)
    assert apart.indices == ds.indices and apart.skipped == ds.skipped and torch.equal(apart[0]['depth'], ds[0]['depth'])
    assert fresh.skipped == {}
    strict = NTUSource(tmp_path, frames=4, on_error='raise')
    with pytest.raises(DataError, match='S001C001P001R001A001_rgb.avi') as e:
        strict.load(0)
    assert not isinstance(e.value, SkippedSample)
    with pytest.raises(DataError, match='no nturgb'):
        NTUSource(tmp_path / 'nothing')


def test_a_cache_write_cut_short_leaves_no_file_behind(ntu_root, tmp_path, monkeypatch):
    cache = tmp_path / 'cache'

    def disk_full(file, **arrays):
        f = open(file, 'wb') if isinstance(file, (str, os.PathLike)) else file
        f.write(b'PK\x03\x04 half an npz')
        f.flush()
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(np, 'savez', disk_full)
    with pytest.raises(OSError, match='No space'):
        NTUSource(ntu_root, frames=4, cache_dir=cache).load(0)
    assert [p for p in cache.rglob('*') if p.is_file()] == []
    monkeypatch.undo()
    src = NTUSource(ntu_root, frames=4, cache_dir=cache)
    depth, rgb = src.load(0)
    files = [p for p in cache.rglob('*') if p.is_file()]
    assert [p.name for p in files] == ['S001C001P001R001A043.npz']
    with np.load(files[0]) as z:
        assert np.array_equal(z['depth'][1:5], depth)


def test_a_process_never_reads_a_cache_file_another_is_writing(ntu_root, tmp_path, monkeypatch, capsys):
    """Two ranks decode the same sample at once: the one that finds the cache half-written must not read it."""
    cache, real_savez = tmp_path / 'cache', np.savez
    half, done = threading.Event(), threading.Event()
    writer = {}

    def slow_savez(file, **arrays):
        buf = io.BytesIO()
        real_savez(buf, **arrays)
        data = buf.getvalue()
        f = open(file, 'wb') if isinstance(file, (str, os.PathLike)) else file
        if threading.current_thread() is writer.get('thread'):
            f.write(data[:len(data) // 2])
            f.flush()
            half.set()
            done.wait(30)
            f.write(data[len(data) // 2:])
        else:
            f.write(data)
        if f is not file:
            f.close()

    monkeypatch.setattr(np, 'savez', slow_savez)
    result = {}
    writer['thread'] = threading.Thread(target=lambda: result.setdefault('a', NTUSource(ntu_root, frames=4,
                                                                                         cache_dir=cache).load(0)))
    writer['thread'].start()
    assert half.wait(30)
    try:
        b = NTUSource(ntu_root, frames=4, cache_dir=cache).load(0)
    finally:
        done.set()
        writer['thread'].join(30)
    assert 'damaged' not in capsys.readouterr().err            # it decoded the sample itself, never read half a file
    expected = NTUSource(ntu_root, frames=4).load(0)
    assert np.array_equal(b[0], expected[0]) and np.array_equal(result['a'][0], expected[0])
    files = [p for p in cache.rglob('*') if p.is_file()]
    assert [p.name for p in files] == ['S001C001P001R001A043.npz']
    with np.load(files[0]) as z:
        assert np.array_equal(z['depth'][1:5], expected[0])


def test_a_damaged_cache_file_is_decoded_again(ntu_root, tmp_path, capsys):
    src = NTUSource(ntu_root, frames=4, cache_dir=tmp_path / 'cache')
    expected = src.load(0)
    cached = next((tmp_path / 'cache').rglob('*.npz'))
    cached.write_bytes(cached.read_bytes()[:1000])
    again = NTUSource(ntu_root, frames=4, cache_dir=tmp_path / 'cache').load(0)
    assert np.array_equal(again[0], expected[0]) and 'damaged' in capsys.readouterr().err


RSS_CHILD = '''
import sys
sys.path.insert(0, sys.argv[1])
from training.ntu import NTUSource

def kb(field):
    for line in open('/proc/self/status'):
        if line.startswith(field):
            return int(line.split()[1])

src = NTUSource(sys.argv[2], frames=16)
before = kb('VmRSS:')
depth, rgb = src.load(0)
print(before, kb('VmHWM:'), len(depth))
'''


def test_reading_a_1080p_sample_keeps_only_the_sampled_frames(tmp_path):
    """60 frames of 1920x1080 are 373 MB decoded: the loader must hold the sampled, shrunk frames only."""
    write_sample(tmp_path, 'S001C001P001R001A043', n=60)
    r = subprocess.run([sys.executable, '-c', RSS_CHILD, str(ROOT), str(tmp_path)], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r.returncode == 0, r.stderr[-2000:]
    before_kb, peak_kb, n = (int(v) for v in r.stdout.split())
    assert n == 16
    assert (peak_kb - before_kb) / 1024 < 100, f'peak RSS grew by {(peak_kb - before_kb) / 1024:.0f} MB'


def test_distill_on_the_official_cross_view_split(ntu_root, tmp_path):
    import json
    from training import distill
    rc = distill.main(['--data', str(ntu_root), '--benchmark', 'ntu60-xview', '--method', 'none', '--epochs', '1',
                       '--frames', '8', '--height', '24', '--width', '32', '--batch-size', '1', '--device', 'cpu',
                       '--cache-dir', str(tmp_path / 'cache'), '--out', str(tmp_path / 'run')])
    assert rc == 0
    m = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert m['ntu60-xview']['n'] == 1 and len(m['ntu60-xview']['confusion']) == 60


def test_distill_and_the_teacher_cache_leave_unreadable_samples_out_and_count_them(tmp_path):
    import json
    import torch
    from training import cache, distill
    from training.teachers import build_teacher
    for name, rgb in (('S001C002P001R001A001', True), ('S001C003P001R001A002', True), ('S001C002P001R001A003', False),
                      ('S001C001P001R001A001', True)):
        write_sample(tmp_path / 'ntu', name, n=12, rgb=rgb)
    rc = distill.main(['--data', str(tmp_path / 'ntu'), '--benchmark', 'ntu60-xview', '--method', 'none', '--epochs', '1',
                       '--frames', '8', '--height', '24', '--width', '32', '--batch-size', '1', '--device', 'cpu',
                       '--out', str(tmp_path / 'run')])
    assert rc == 0
    m = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    # three training-camera samples: the first validates, of the other two the one without RGB is left out
    assert m['train_clips'] == 1 and m['skipped'] == {'train': 1, 'val': 0, 'ntu60-xview': 0}
    assert m['ntu60-xview']['n'] == 1
    src = NTUSource(tmp_path / 'ntu', frames=8)
    train = [i for i, r in enumerate(src.records) if official_split(r, 'ntu60-xview') == 'train']
    out = cache.teacher_pass(build_teacher('rgb_small', 60), {'rgb_size': [24, 32], 'rgb_frame_step': 1}, src, train,
                             device=torch.device('cpu'), frames=8)
    kept = [src.records[i]['path'] for i in out['indices'].tolist()]
    assert sorted(kept) == ['S001C002P001R001A001', 'S001C003P001R001A002'] and out['logits'].shape[:2] == (2, 2)


def test_every_window_of_a_sample_comes_from_one_decode(tmp_path):
    import torch
    from training import cache, distill
    from training.teachers import build_teacher
    names = ('S001C002P001R001A001', 'S001C003P001R001A002', 'S001C002P001R001A003', 'S001C001P001R001A004')
    for name in names:
        write_sample(tmp_path / 'ntu', name, n=40, rgb=name != names[2])    # the third has no video
    spec = PreprocessSpec(frames=8, height=24, width=32)
    src = NTUSource(tmp_path / 'ntu', frames=8)
    x, y, kept, skipped, widths = distill.loaded_windows(src, [0, 1, 2, 3], spec, 'ntu-windows', 3)
    assert src.decoded == 3 and skipped == 1           # one decode per readable sample, not one per window
    assert kept == [0, 1, 3] and x.shape == (3, 3, 1, 8, 24, 32)
    # and they are the windows a sample gives one by one, in order (a fresh source: nothing kept from above)
    one = NTUSource(tmp_path / 'ntu', frames=8)
    for row, i in enumerate(kept):
        for w in range(3):
            depth, _ = one.load(i, spread=(w, 3))
            want = torch.from_numpy(preprocess_clip(depth, 0.001, spec)).half()
            assert torch.equal(x[row, w, 0], want), (i, w)
        assert y[row] == one.records[i]['label_id']
    assert not torch.equal(x[0, 0], x[0, 2])            # early and late windows differ
    # the teacher pass reads recording by recording too (its batch of 4 is cut to 3: whole samples per batch)
    src = NTUSource(tmp_path / 'ntu', frames=8)
    out = cache.teacher_pass(build_teacher('rgb_small', 60).eval(), {'rgb_size': [24, 32], 'rgb_frame_step': 1},
                             src, [0, 1, 2, 3], device=torch.device('cpu'), frames=8, windows=3, batch_size=4)
    assert src.decoded == 3 and out['indices'].tolist() == [0, 1, 3] and out['logits'].shape[:2] == (3, 6)
