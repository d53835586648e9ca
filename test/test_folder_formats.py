"""Paired-folder format (from a real rosbag2 file via the converter) and NW-UCLA, on fixtures written here."""
import cv2
import numpy as np
import pytest
import yaml

from training.data import DataError, PairedClips, open_source
from training.folder import NWUCLA_LABELS, FolderSource, NWUCLASource
from training.rosbag_convert import convert
from depth_action_recognition.preprocess import PreprocessSpec


def write_bag(path, seconds=2.0, fps=15):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore
    ts = get_typestore(Stores.ROS2_KILTED)
    Image, Header, Time = ts.types['sensor_msgs/msg/Image'], ts.types['std_msgs/msg/Header'], ts.types['builtin_interfaces/msg/Time']
    with Writer(path, version=9) as w:
        cd = w.add_connection('/cam/depth', Image.__msgtype__, typestore=ts)
        cc = w.add_connection('/cam/color', Image.__msgtype__, typestore=ts)
        for i in range(int(seconds * fps)):
            t = 100.0 + i / fps
            hdr = Header(stamp=Time(sec=int(t), nanosec=int((t % 1) * 1e9)), frame_id='cam')
            d = np.full((24, 32), 1000 + i, np.uint16)
            c = np.full((24, 32, 3), (i * 5) % 255, np.uint8)
            md = Image(header=hdr, height=24, width=32, encoding='16UC1', is_bigendian=0, step=64, data=d.view(np.uint8).ravel())
            mc = Image(header=hdr, height=24, width=32, encoding='rgb8', is_bigendian=0, step=96, data=c.ravel())
            w.write(cd, int(t * 1e9), ts.serialize_cdr(md, Image.__msgtype__))
            w.write(cc, int(t * 1e9) + 1000, ts.serialize_cdr(mc, Image.__msgtype__))


def test_rosbag_to_paired_folder_to_training_source(tmp_path):
    write_bag(tmp_path / 'bag')
    (tmp_path / 'labels.yaml').write_text(yaml.safe_dump({'labels': ['idle', 'falling'], 'alarm_labels': ['falling']}))
    (tmp_path / 'segments.csv').write_text('start_s,end_s,label,subject,view\n0,1,idle,1,0\n1,2,falling,2,1\n')
    stats = convert(tmp_path / 'bag', tmp_path / 'data', depth_topic='/cam/depth', rgb_topic='/cam/color',
                    segments=tmp_path / 'segments.csv', labels_file=tmp_path / 'labels.yaml')
    assert stats['clips'] == 2 and stats['frames'] == 30 and stats['unpaired'] == 0
    src = open_source(tmp_path / 'data', frames=8)
    assert isinstance(src, FolderSource) and [r['label_id'] for r in src.records] == [0, 1]
    depth, rgb = src.load(1)
    assert depth.shape == (8, 24, 32) and rgb.shape == (8, 24, 32, 3)
    assert depth[0, 0, 0] == 1015                                   # the 16th frame: the second segment's first
    item = PairedClips(src, [0], PreprocessSpec(frames=8, height=12, width=16))[0]
    assert item['depth'].shape == (1, 8, 12, 16) and item['rgb'].shape[0] == 3


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
    cv2.imwrite(str(tmp_path / 'c0' / 'depth' / '000000.png'), np.zeros((4, 4), np.uint16))
    with pytest.raises(DataError, match='not paired'):
        FolderSource(tmp_path).load(0)


def test_nwucla_layout_and_views(tmp_path):
    for view in (1, 2, 3):
        d = tmp_path / f'view_{view}' / 'a05_s03_e01'
        d.mkdir(parents=True)
        for i in range(5):
            cv2.imwrite(str(d / f'frame_{i:02d}_depth.png'), np.full((24, 32), 2000, np.uint16))
            cv2.imwrite(str(d / f'frame_{i:02d}_rgb.jpg'), np.zeros((48, 64, 3), np.uint8))
    src = open_source(tmp_path, frames=4)
    assert isinstance(src, NWUCLASource) and [r['view'] for r in src.records] == [1, 2, 3]
    assert src.labels[src.records[0]['label_id']] == 'sit down' and len(NWUCLA_LABELS) == 10
    depth, rgb = src.load(0)
    assert depth.shape == (4, 24, 32) and rgb.shape == (4, 24, 32, 3)       # RGB resized onto the depth grid
