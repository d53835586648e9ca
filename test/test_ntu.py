"""NTU RGB+D loader on a format-faithful fixture written by the test (the real set cannot be fetched here)."""
import cv2
import numpy as np
import pytest

from training.data import DataError, PairedClips
from training.ntu import NTU60_XSUB_TRAIN, NTUSource, label_preset, official_split, parse_name
from depth_action_recognition.preprocess import PreprocessSpec


def write_sample(root, name, n=20, masked=True, rgb=True):
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
            f = np.full((1080, 1920, 3), 80, np.uint8)
            f[400:900, 800:1000] = (0, 0, 255)
            vw.write(f)
        vw.release()


@pytest.fixture(scope='module')
def ntu(tmp_path_factory):
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


def test_loads_paired_person_crops(ntu, tmp_path):
    src = NTUSource(ntu, classes=60, frames=8, cache_dir=tmp_path / 'cache')
    assert [r['path'] for r in src.records] == ['S001C001P001R001A043', 'S001C002P003R001A001', 'S002C003P008R002A050']
    assert src.records[0]['label_id'] == 42 and src.labels[42] == 'falling'
    depth, rgb = src.load(0)
    assert depth.shape == (8, 120, 160) and rgb.shape == (8, 120, 160, 3)
    assert depth.dtype == np.uint16 and (depth > 0).mean() > 0.1              # the crop is around the person
    assert (tmp_path / 'cache' / 'S001C001P001R001A043.npz').is_file()
    again = src.load(0)                                                        # from the compact cache
    assert np.array_equal(again[0], depth)
    ds = PairedClips(src, [0, 1], PreprocessSpec(frames=8), modalities=('depth', 'rgb'))
    assert ds[0]['depth'].shape == (1, 8, 60, 80)
    assert len(NTUSource(ntu, classes=120, frames=8).records) == 4


def test_missing_frames_and_skip_list(ntu, tmp_path):
    write_sample(tmp_path, 'S001C001P001R001A001', rgb=False)
    write_sample(tmp_path, 'S001C001P001R001A002')
    (tmp_path / 'skip.txt').write_text('S001C001P001R001A002\n')
    src = NTUSource(tmp_path, frames=8, skip_list=tmp_path / 'skip.txt')
    assert [r['path'] for r in src.records] == ['S001C001P001R001A001']
    depth, _ = src.load(0)                                                     # RGB video missing: reported, skipped
    assert not depth.any() and '_rgb.avi' in src.skipped[0]
    strict = NTUSource(tmp_path, frames=8, on_error='raise')
    with pytest.raises(DataError, match='S001C001P001R001A001_rgb.avi'):
        strict.load(0)
    with pytest.raises(DataError, match='no nturgb'):
        NTUSource(tmp_path / 'nothing')


def test_distill_on_the_official_cross_view_split(ntu, tmp_path):
    import json
    from training import distill
    rc = distill.main(['--data', str(ntu), '--benchmark', 'ntu60-xview', '--method', 'none', '--epochs', '1',
                       '--frames', '8', '--height', '24', '--width', '32', '--batch-size', '1', '--device', 'cpu',
                       '--cache-dir', str(tmp_path / 'cache'), '--out', str(tmp_path / 'run')])
    assert rc == 0
    m = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert m['ntu60-xview']['n'] == 1 and len(m['ntu60-xview']['confusion']) == 60
