"""Paired-folder format (from a real rosbag2 file via the converter) and NW-UCLA, on fixtures written here."""
import cv2
import numpy as np
import pytest
import yaml

from depth_action_recognition.clip_buffer import ClipBuffer
from training.benchmarks import BENCHMARKS, benchmark_indices
from training.data import DataError, PairedClips, open_source
from training.folder import NWUCLA_LABELS, FolderSource, NWUCLASource
from training.rosbag_convert import convert, main as convert_main
from depth_action_recognition.preprocess import PreprocessSpec


def live_clips(times, fps, frames):
    """Frame indices of every clip the recognizer's buffer cuts from a stream with these frame times."""
    buf = ClipBuffer(frames, 1, target_fps=fps)
    clips = []
    for i, t in enumerate(times):
        clip = buf.add(np.full((1, 1), i, np.float32), t) if buf.admit(t) else None
        if clip is not None:
            clips.append(clip.frames[:, 0, 0].astype(int).tolist())
    return clips


def stamp(ts, t):
    return ts.types['builtin_interfaces/msg/Time'](sec=int(t), nanosec=int(round((t % 1) * 1e9)) % 1_000_000_000)


def write_bag(path, seconds=2.0, fps=15, t0=100.0, receive_t0=None, rgb_late=0, rgb_offset=0.0, drop_rgb=()):
    """Depth frame i is 1000 + i mm, RGB frame i is grey (i * 5) % 255. Header stamps from ``t0`` (the cameras'
    clock); receive times from ``receive_t0`` (the recorder's); RGB recorded ``rgb_late`` frames after its depth."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore
    ts = get_typestore(Stores.ROS2_KILTED)
    Image, Header = ts.types['sensor_msgs/msg/Image'], ts.types['std_msgs/msg/Header']
    receive_t0 = t0 if receive_t0 is None else receive_t0
    n = int(seconds * fps)
    with Writer(path, version=9) as w:
        cd = w.add_connection('/cam/depth', Image.__msgtype__, typestore=ts)
        cc = w.add_connection('/cam/color', Image.__msgtype__, typestore=ts)
        for k in range(n + rgb_late):
            if k < n:
                t = t0 + k / fps
                d = np.full((24, 32), 1000 + k, np.uint16)
                md = Image(header=Header(stamp=stamp(ts, t), frame_id='cam'), height=24, width=32, encoding='16UC1',
                           is_bigendian=0, step=64, data=d.view(np.uint8).ravel())
                w.write(cd, int((receive_t0 + k / fps) * 1e9), ts.serialize_cdr(md, Image.__msgtype__))
            i = k - rgb_late
            if 0 <= i < n and i not in drop_rgb:
                t = t0 + i / fps + rgb_offset
                c = np.full((24, 32, 3), (i * 5) % 255, np.uint8)
                mc = Image(header=Header(stamp=stamp(ts, t), frame_id='cam'), height=24, width=32, encoding='rgb8',
                           is_bigendian=0, step=96, data=c.ravel())
                w.write(cc, int((receive_t0 + k / fps) * 1e9) + 1000, ts.serialize_cdr(mc, Image.__msgtype__))


def test_rosbag_to_paired_folder_to_training_source(tmp_path):
    write_bag(tmp_path / 'bag')
    (tmp_path / 'labels.yaml').write_text(yaml.safe_dump({'labels': ['idle', 'falling'], 'alarm_labels': ['falling']}))
    (tmp_path / 'segments.csv').write_text('start_s,end_s,label,subject,view\n0,1,idle,1,0\n1,2,falling,2,1\n')
    stats = convert(tmp_path / 'bag', tmp_path / 'data', depth_topic='/cam/depth', rgb_topic='/cam/color',
                    segments=tmp_path / 'segments.csv', labels_file=tmp_path / 'labels.yaml')
    assert stats['clips'] == 2 and stats['frames'] == 30 and stats['unpaired'] == 0
    times = np.loadtxt(tmp_path / 'data' / 'clip_00001' / 'times.txt')
    np.testing.assert_allclose(times, 100.0 + np.arange(15, 30) / 15, atol=1e-6)
    src = open_source(tmp_path / 'data', frames=8)
    assert isinstance(src, FolderSource) and [r['label_id'] for r in src.records] == [0, 1] and src.fps == 10.0
    depth, rgb = src.load(1)                         # evaluation: the centre clip of the 15 fps recording at 10 fps
    assert depth.shape == (8, 24, 32) and rgb.shape == (8, 24, 32, 3)
    live = live_clips(times, src.fps, 8)
    assert len(live) == 3 and (depth[:, 0, 0] - 1015).tolist() == live[1] == [2, 3, 5, 6, 8, 9, 11, 12]
    assert (rgb[:, 0, 0, 0] // 5 - 15).tolist() == live[1]                        # each with its own RGB frame
    for seed in range(6):                             # training: a random one of the live clips
        d, _ = src.load(1, np.random.default_rng(seed))
        assert (d[:, 0, 0] - 1015).tolist() in live
    item = PairedClips(src, [0], PreprocessSpec(frames=8, height=12, width=16))[0]
    assert item['depth'].shape == (1, 8, 12, 16) and item['rgb'].shape[0] == 3


def test_rosbag_streams_in_the_cameras_time_base(tmp_path, capsys):
    """Header stamps on a camera clock far from the recorder's; RGB recorded 3 frames late, 4 ms off, one lost."""
    write_bag(tmp_path / 'bag', seconds=4.0, t0=5.0, receive_t0=1_764_000_000.0, rgb_late=3, rgb_offset=0.004,
              drop_rgb=(20,))
    (tmp_path / 'labels.yaml').write_text(yaml.safe_dump({'labels': ['idle', 'falling']}))
    (tmp_path / 'segments.csv').write_text('start_s,end_s,label,subject,view\n0,2,idle,1,0\n2,4,falling,1,0\n'
                                           '9,10,idle,1,0\n')
    rc = convert_main([str(tmp_path / 'bag'), '--depth-topic', '/cam/depth', '--rgb-topic', '/cam/color',
                       '--segments', str(tmp_path / 'segments.csv'), '--labels', str(tmp_path / 'labels.yaml'),
                       '--out', str(tmp_path / 'data')])
    assert rc == 0
    out = capsys.readouterr()
    assert 'wrote 2 clips, 59 paired frames' in out.out and '1 depth frames without an RGB partner' in out.out
    assert '9.0-10.0 s' in out.err                                                # the empty segment is named
    src = FolderSource(tmp_path / 'data', frames=8)
    for clip, first in ((0, 0), (1, 30)):
        folder = tmp_path / 'data' / f'clip_{clip:05d}'
        expected = [i for i in range(first, first + 30) if i != 20]
        depth = [int(cv2.imread(str(f), cv2.IMREAD_ANYDEPTH)[0, 0]) - 1000 for f in sorted((folder / 'depth').glob('*.png'))]
        rgb = [int(round(cv2.imread(str(f))[0, 0, 0] / 5)) for f in sorted((folder / 'rgb').glob('*.jpg'))]
        assert depth == expected and rgb == [i % 51 for i in expected]             # grey 5 i mod 255
        np.testing.assert_allclose(np.loadtxt(folder / 'times.txt'), 5.0 + np.array(expected) / 15, atol=1e-6)
    assert src.load(0)[0].shape == (8, 24, 32)


def test_rosbag_pairing_holds_a_few_frames_not_the_bag(tmp_path):
    write_bag(tmp_path / 'bag', seconds=6.0, rgb_late=2)
    (tmp_path / 'labels.yaml').write_text(yaml.safe_dump({'labels': ['idle']}))
    (tmp_path / 'segments.csv').write_text('start_s,end_s,label,subject,view\n0,6,idle,1,0\n')
    stats = convert(tmp_path / 'bag', tmp_path / 'data', depth_topic='/cam/depth', rgb_topic='/cam/color',
                    segments=tmp_path / 'segments.csv', labels_file=tmp_path / 'labels.yaml')
    assert stats['frames'] == 90 and stats['unpaired'] == 0
    assert stats['held_max'] <= 5                   # 90 frames of each topic, at most a few held at once


def test_folder_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match='labels.yaml'):
        FolderSource(tmp_path)
    (tmp_path / 'labels.yaml').write_text(yaml.safe_dump({'labels': ['a']}))
    (tmp_path / 'clips.csv').write_text('clip,label,subject,view\nc0,b,1,0\n')
    with pytest.raises(DataError, match="clips.csv:2: label 'b'"):
        FolderSource(tmp_path)
    (tmp_path / 'clips.csv').write_text('clip,label,subject,view\nc0,a,1,0\n')
    (tmp_path / 'c0' / 'depth').mkdir(parents=True)
    (tmp_path / 'c0' / 'rgb').mkdir()
    for k in range(3):
        cv2.imwrite(str(tmp_path / 'c0' / 'depth' / f'{k:06d}.png'), np.zeros((4, 4), np.uint16))
    with pytest.raises(DataError, match='c0: no times.txt .* states no camera_fps'):
        FolderSource(tmp_path).load(0)
    (tmp_path / 'c0' / 'times.txt').write_text('0.0\n0.1\n')
    with pytest.raises(DataError, match='not paired'):
        FolderSource(tmp_path).load(0)
    for k in range(3):
        cv2.imwrite(str(tmp_path / 'c0' / 'rgb' / f'{k:06d}.jpg'), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match='2 frame times for 3 frames'):
        FolderSource(tmp_path).load(0)
    (tmp_path / 'c0' / 'times.txt').unlink()
    (tmp_path / 'labels.yaml').write_text(yaml.safe_dump({'labels': ['a'], 'camera_fps': 30}))
    depth, _ = FolderSource(tmp_path, frames=2).load(0)               # 3 frames at 30 fps: 1 sampled at 10 fps
    assert depth.shape == (2, 4, 4)


def write_nwucla(root, views=(1, 2, 3), n=5):
    for view in views:
        d = root / f'view_{view}' / 'a05_s03_e01'
        d.mkdir(parents=True)
        for i in range(n):
            # The published names are not zero-padded to one width: frame_9 sorts after frame_10 as text.
            cv2.imwrite(str(d / f'frame_{i}_depth.png'), np.full((24, 32), 2000 + i, np.uint16))
            cv2.imwrite(str(d / f'frame_{i}_rgb.jpg'), np.full((48, 64, 3), 5 * i, np.uint8))


def test_nwucla_layout_views_and_clip_timing(tmp_path):
    write_nwucla(tmp_path, n=40)
    src = open_source(tmp_path, frames=8)
    assert isinstance(src, NWUCLASource) and [r['view'] for r in src.records] == [1, 2, 3]
    assert src.labels[src.records[0]['label_id']] == 'sit down' and len(NWUCLA_LABELS) == 10
    depth, rgb = src.load(0)
    assert depth.shape == (8, 24, 32) and rgb.shape == (8, 24, 32, 3)      # RGB resized onto the depth grid
    live = live_clips(1000.0 + np.arange(40) / 30.0, src.fps, 8)            # 30 fps Kinect, sampled at 10 fps
    assert len(live) == 7 and (depth[:, 0, 0] - 2000).tolist() == live[3] == list(range(9, 33, 3))
    assert np.round(rgb[:, 0, 0, 0] / 5).astype(int).tolist() == live[3]


def test_nwucla_split_is_views_1_2_train_3_test_and_listed():
    records = [{'view': v, 'subject': 1} for v in (1, 2, 3, 3, 1)]
    assert benchmark_indices(records, 'nwucla') == ([0, 1, 4], [2, 3])
    assert NWUCLASource.benchmark == 'nwucla'
    assert 'views 1 and 2 train, view 3 tests' in BENCHMARKS['nwucla']
    assert benchmark_indices([{'subject': 1, 'camera': 1, 'setup': 1}], 'ntu60-xsub') == ([0], [])
    with pytest.raises(DataError, match='unknown benchmark'):
        benchmark_indices(records, 'ucla')


def test_a_recording_shorter_than_a_clip_repeats_its_last_frame(tmp_path):
    write_nwucla(tmp_path, views=(1,), n=5)
    src = NWUCLASource(tmp_path, frames=4)
    depth, _ = src.load(0)
    assert (depth[:, 0, 0] - 2000).tolist() == [0, 3, 3, 3] and src.padded == 1
