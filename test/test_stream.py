"""Continuous scenarios and the training windows cut from them."""
import json
import os

import numpy as np
import pytest

from depth_action_recognition.preprocess import PreprocessSpec, preprocess_frame
from depth_action_recognition.sampling import window_indices
from depth_action_recognition.synthetic.dataset import DatasetError, SyntheticDataset, stream_camera, write_dataset
from depth_action_recognition.synthetic.stream import CAMERA_MODES, ScenarioCamera, render_window, window_label


def test_window_label_is_the_majority_and_a_tie_goes_to_the_later_action():
    assert window_label(['a'] * 9 + ['b'] * 7) == 'a'
    assert window_label(['a'] * 7 + ['b'] * 9) == 'b'
    assert window_label(['a'] * 8 + ['b'] * 8) == 'b'
    assert window_label(['b'] * 8 + ['a'] * 8) == 'a'
    assert window_label(['a'] * 5 + ['b'] * 6 + ['c'] * 5) == 'b'


def test_scenario_plays_its_playlist_in_order_and_replays_identically():
    playlist = [('walking', 2.0), ('falling_down', 3.0), ('waving', 1.5)]
    cam = ScenarioCamera(playlist, seed=4, size=(30, 40), loop=False)
    assert [cam.label_at(t) for t in (0.0, 1.99, 2.0, 4.9, 5.0, 6.4)] == \
        ['walking', 'walking', 'falling_down', 'falling_down', 'waving', 'waving']
    assert cam.label_at(6.5) is None and cam.render(6.6, 1) is None
    again = ScenarioCamera(playlist, seed=4, size=(30, 40), loop=False)
    for t, k in ((0.5, 1), (2.5, 2), (5.2, 3)):
        np.testing.assert_array_equal(cam.render(t, k)[0], again.render(t, k)[0])
    looping = ScenarioCamera(playlist, seed=4, size=(30, 40), loop=True)
    assert looping.label_at(6.5 + 2.5) == 'falling_down' and looping.label_at(13.1) == 'walking'


@pytest.mark.parametrize('label', ['falling_down', 'sitting_down', 'drinking', 'punching'])
def test_a_window_is_what_the_recognizer_would_cut_and_its_label_is_the_majority(label):
    win = render_window(label, 11, size=(30, 40), rgb=True)
    m = win.meta
    assert win.label == label and win.depth.shape == (16, 30, 40) and win.rgb.shape == (16, 30, 40, 3)
    assert m['share'] >= 0.5 and (m['straddle'] or m['share'] == 1.0)
    assert m['actions'][1] == label and label not in (m['actions'][0], m['actions'][2])
    # rendering the same frame times through a fresh scenario of the same seed gives the same pixels
    again = render_window(label, 11, size=(30, 40), rgb=False)
    np.testing.assert_array_equal(win.depth, again.depth)


def test_windows_cover_every_phase_and_straddle_the_cuts():
    metas = [render_window('waving', s, size=(24, 32), rgb=False).meta for s in range(40)]
    phases = np.array([m['phase'] for m in metas])
    straddling = sum(m['straddle'] for m in metas)
    assert phases.min() < 0 and phases.max() > 2.5          # from before the action begins to well into it
    assert 5 <= straddling <= 25                            # some windows cross to a neighbour, most do not


def test_camera_modes_render_at_the_size_the_preprocessing_decimates_to():
    for mode, (w0, h0, _) in CAMERA_MODES.items():
        cam = stream_camera(3, mode)
        h, w = cam['size']
        assert (h * cam['native_step'], w * cam['native_step']) == (h0 - h0 % cam['native_step'], w0 - w0 % cam['native_step'])
        # the decimated frame is what preprocessing keeps of the native one: it would not decimate it again
        spec = PreprocessSpec(height=60, width=80, crop='pad')
        small = preprocess_frame(np.full((h, w), 2000, np.uint16), 0.001, spec)
        large = preprocess_frame(np.full((h0, w0), 2000, np.uint16), 0.001, spec)
        np.testing.assert_array_equal(small > 0, large > 0)
        if cam['hfov'] is not None:
            assert 30 <= cam['hfov'] <= 120


def test_field_of_view_range_replaces_the_modes_nominal_field_but_not_the_simulators():
    nominal = [stream_camera(s, 'd4xx-424')['hfov'] for s in range(200)]
    ranged = [stream_camera(s, 'd4xx-424', hfov_range=(50, 92))['hfov'] for s in range(200)]
    assert 82 <= min(nominal) and max(nominal) <= 92
    assert 50 <= min(ranged) < 55 and 87 < max(ranged) <= 92          # the whole range, not the nominal band
    assert sum(h < 70 for h in ranged) > 60                             # narrow lenses drawn, not only the edge
    assert stream_camera(4, 'sim160', hfov_range=(50, 92))['hfov'] is None


def test_dataset_field_of_view_range_is_recorded_and_checked(tmp_path):
    root = write_dataset(tmp_path / 's', clips_per_class=1, subjects=[1], views=[0], frames=4, seed=2,
                         kind='stream', modes=['d4xx-424'], hfov_range=(55, 60), labels=['waving', 'kicking'])
    info = json.loads((root / 'dataset.json').read_text())
    assert info['hfov_range'] == [55.0, 60.0]
    # the field of view each window was rendered with (the scene's own record), drawn from the range
    assert all(55 <= r['hfov'] <= 60 for r in SyntheticDataset.open(root).records)
    for bad in [(60, 55), (20, 60), (55, 130)]:
        with pytest.raises(DatasetError, match='field-of-view range'):
            write_dataset(tmp_path / 'bad', clips_per_class=1, kind='stream', hfov_range=bad)
    with pytest.raises(DatasetError, match='stream windows'):
        write_dataset(tmp_path / 'bad', clips_per_class=1, kind='clips', hfov_range=(55, 60))
    assert not (tmp_path / 'bad').exists()


def test_stream_dataset_records_the_camera_and_window(tmp_path):
    root = write_dataset(tmp_path / 's', clips_per_class=1, subjects=[1, 2], views=[0], frames=8, seed=2,
                         kind='stream', modes=['sim160', 'd4xx-848'])
    ds = SyntheticDataset.open(root)
    info = json.loads((root / 'dataset.json').read_text())
    assert info['kind'] == 'stream' and info['modes'] == ['sim160', 'd4xx-848']
    seen = set()
    for i, r in enumerate(ds.records):
        depth, rgb, _ = ds.load(i)
        assert list(depth.shape[1:]) == r['size'] and rgb.shape[:3] == depth.shape
        assert r['mode'] in ('sim160', 'd4xx-848') and r['label'] == r['actions'][1]
        seen.add(tuple(r['native_size']))
    assert seen == {(120, 160), (480, 848)}


def test_window_frames_follow_the_sampler_on_a_thirty_fps_camera():
    times = 0.013 + np.arange(300) / 30.0
    idx = window_indices(times, 10.0, 16, 2.0)
    assert np.all(np.diff(idx) == 3) and times[idx[0]] >= 2.0


def test_rgb_for_the_teacher_is_fitted_by_the_depth_geometry():
    """Letterboxed RGB and depth of a 16:9 frame put an object in the same cells of their inputs."""
    from training.data import rgb_clip
    depth = np.full((1, 240, 424), 4000, np.uint16)
    rgb = np.zeros((1, 240, 424, 3), np.uint8)
    depth[0, 100:140, 300:360] = 1000                       # a near object, white in RGB
    rgb[0, 100:140, 300:360] = 255
    spec = PreprocessSpec(height=30, width=40, min_depth_m=0.0, max_depth_m=5.0, crop='pad')
    d = preprocess_frame(depth[0], 0.001, spec)
    r = rgb_clip(rgb, (30, 40), 1, 'pad')[:, 0].mean(0)
    assert r.shape == d.shape == (30, 40)
    near, bright = d > 0.5, r > 1.0
    assert near.any() and np.array_equal(near, bright)
    assert np.all(d[:3] == 0) and np.allclose(r[:3], 0)    # the letterbox margin: no reading / mean colour


def render_sh(tmp_path, *args):
    """training/render.sh's render() as the training scripts call it."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    script = '. training/render.sh; render "$@"'
    env = {**os.environ, 'PYTHON': sys.executable, 'JOBS': '1',
           'PYTHONPATH': os.pathsep.join(filter(None, [str(root), os.environ.get('PYTHONPATH')]))}
    return subprocess.run(['bash', '-c', script, 'render', *map(str, args)], cwd=root, env=env,
                          capture_output=True, text=True)


def test_render_script_keeps_the_rendering_asked_for_and_refuses_to_overwrite_another(tmp_path):
    out = tmp_path / 'win'
    base = [out, 1, 5, '1-2', '0', 'stream', '--labels', 'waving', 'kicking']
    ask = base + ['--modes', 'd4xx-424', '--frames', '4', '--hfov-range', '55', '60']
    assert render_sh(tmp_path, *ask).returncode == 0
    manifest = (out / 'manifest.jsonl').read_bytes()
    stamp = (out / 'dataset.json').stat().st_mtime_ns
    assert render_sh(tmp_path, *ask).returncode == 0                        # kept, not rendered again
    assert (out / 'dataset.json').stat().st_mtime_ns == stamp
    for other in (['--modes', 'd4xx-424', '--frames', '4', '--hfov-range', '50', '92'],   # another lens range,
                  ['--modes', 'd4xx-424', '--frames', '4'],                               # the nominal lenses,
                  ['--modes', 'd4xx-424', '--frames', '8', '--hfov-range', '55', '60'],   # frames,
                  ['--frames', '4', '--hfov-range', '55', '60'],                          # every camera mode,
                  ['--modes', 'd4xx-424', '--frames', '4', '--hfov-range', '55', '60', '--labels', 'waving', 'pushing'],
                  ['--modes', 'd4xx-424', '--frames', '4', '--hfov-range', '55', '60', '--model-size', '120X160']):
        r = render_sh(tmp_path, *base, *other)                              # other classes, another model input
        assert r.returncode == 2 and 'holds another rendering' in r.stderr, (other, r.stderr)
    assert (out / 'manifest.jsonl').read_bytes() == manifest and (out / 'dataset.json').stat().st_mtime_ns == stamp
    (out / 'dataset.json').unlink()                                         # cut short: rendered again, the same
    assert render_sh(tmp_path, *ask).returncode == 0
    assert (out / 'manifest.jsonl').read_bytes() == manifest
    # clips: the size compared in either case of its 'x', and a size of another rendering refused
    clips = tmp_path / 'clips'
    assert render_sh(tmp_path, clips, 1, 5, '1', '0', 'clips', '--labels', 'waving', 'kicking', '--frames', '4',
                     '--size', '30X40').returncode == 0
    info = json.loads((clips / 'dataset.json').read_text())
    assert 'hfov_range' not in info and info['size'] == [30, 40]
    assert render_sh(tmp_path, clips, 1, 5, '1', '0', 'clips', '--labels', 'waving', 'kicking', '--frames', '4',
                     '--size', '30x40').returncode == 0
    r = render_sh(tmp_path, clips, 1, 5, '1', '0', 'clips', '--labels', 'waving', 'kicking', '--frames', '4',
                  '--size', '24x32')
    assert r.returncode == 2 and 'holds another rendering' in r.stderr
    # a stream folder asked again with its model size in capitals is the same rendering
    assert render_sh(tmp_path, *ask, '--model-size', '60X80').returncode == 0
    # a dataset.json that is not JSON: the check says it could not check, and the folder is left as it is
    (clips / 'dataset.json').write_text('{"labels": [')
    r = render_sh(tmp_path, clips, 1, 5, '1', '0', 'clips', '--labels', 'waving', 'kicking', '--frames', '4',
                  '--size', '30x40')
    assert r.returncode == 2 and 'could not check' in r.stderr and 'cannot check the rendering' in r.stderr
    assert (clips / 'dataset.json').read_text() == '{"labels": ['
