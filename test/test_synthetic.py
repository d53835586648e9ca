"""The synthetic world: determinism, RGB/depth alignment, every class at every size, sensor model, I/O."""

import json

import numpy as np
import pytest

from depth_action_recognition.synthetic import (ACTIONS, ALARM_LABELS, LABELS, OBJECT_LABELS, WORLD, Scene, SensorModel,
                                                render_clip)
from depth_action_recognition.synthetic.body import JOINTS, make_body
from depth_action_recognition.synthetic.dataset import DatasetError, SyntheticDataset, parse_range, write_dataset
from depth_action_recognition.synthetic.preview import contact_sheet
from depth_action_recognition.synthetic.scenario import parse_playlist, random_playlist


def test_class_inventory():
    assert len(LABELS) >= 12 and len(ALARM_LABELS) >= 4 and len(OBJECT_LABELS) >= 3
    assert len(JOINTS) >= 15
    assert {'falling_down', 'punching', 'kicking', 'staggering'} <= set(ALARM_LABELS)
    assert {ACTIONS[a].obj for a in OBJECT_LABELS} == {'cup', 'phone', 'toothbrush'}


def test_object_colours_are_the_only_saturated_ones():
    """RGB can find the object by its colour: no subject's clothes, and no room, are as saturated."""
    from depth_action_recognition.synthetic.body import PANTS, SHIRT, muted
    from depth_action_recognition.synthetic.scene import Scene as S

    def saturation(rgb):
        rgb = np.asarray(rgb, float)
        return (rgb.max(-1) - rgb.min(-1)) / np.maximum(rgb.max(-1), 1)
    objects = min(saturation(c) for palette in S.PALETTES.values() for c in palette)
    clothes = max(saturation(make_body(s).colours[part]) for s in range(1, 200) for part in (SHIRT, PANTS))
    rooms = saturation(muted(np.random.default_rng(0).uniform(0, 255, (10_000, 3)))).max()
    assert objects > 0.9 and clothes < 0.75 and rooms < 0.75


def test_object_classes_share_the_motion_where_their_hand_ranges_overlap():
    """Depth gets a weak cue (the phone nearer the ear), never a clean one: every range overlaps the others."""
    from depth_action_recognition.synthetic.actions import FACE_SIDE
    ranges = [FACE_SIDE[ACTIONS[a].obj] for a in OBJECT_LABELS]
    for lo, hi in ranges:
        for lo2, hi2 in ranges:
            assert min(hi, hi2) - max(lo, lo2) >= 0.3


def test_each_object_brings_its_own_small_motion():
    """Same body, same draw: a sip moves the hand up and down and tips the head back, brushing scrubs
    side to side, a phone call holds still; the motions are a few centimetres, not a giveaway."""
    from depth_action_recognition.synthetic.actions import draw_params
    body = make_body(3)
    t = np.arange(1.0, 4.0, 1 / 30)              # after the hand has risen

    def track(label, seed):
        p = draw_params(np.random.default_rng(seed))
        poses = [ACTIONS[label].program(x, p, body)[0] for x in t]
        hand = np.array([q.hand_r for q in poses])
        return np.ptp(hand, axis=0), np.ptp([q.head_pitch for q in poses])
    for seed in range(5):
        (cx, cy, _), cup_head = track('drinking', seed)
        (bx, by, _), brush_head = track('brushing_teeth', seed)
        (px, py, _), phone_head = track('phone_call', seed)
        assert 0.04 < cy < 0.15 and cup_head > 0.2 > max(brush_head, phone_head)
        assert 0.05 < bx < 0.13 and bx > px + 0.03 and by < cy
        assert max(px, py) < 0.06


def test_same_arguments_same_bits_and_seeds_differ():
    a = render_clip('drinking', 5, frames=3)
    b = render_clip('drinking', 5, frames=3)
    assert np.array_equal(a.depth, b.depth) and np.array_equal(a.rgb, b.rgb) and a.meta == b.meta
    c = render_clip('drinking', 6, frames=3)
    assert not np.array_equal(a.depth, c.depth)


def test_subject_fixes_the_body():
    assert make_body(7) == make_body(7)
    assert make_body(7).height != make_body(8).height
    s1 = Scene('waving', 1, subject=7)
    s2 = Scene('kicking', 99, subject=7)
    assert s1.bodies[0] == s2.bodies[0]


@pytest.mark.parametrize('label', LABELS)
@pytest.mark.parametrize('size', [(60, 80), (120, 160), (240, 320), (480, 640)])
def test_every_class_renders_at_every_size(label, size):
    frames = 2 if size[0] <= 240 else 1
    clip = render_clip(label, 3, frames=frames, size=size)
    assert clip.depth.shape == (frames,) + size and clip.depth.dtype == np.uint16
    assert clip.rgb.shape == (frames,) + size + (3,) and clip.rgb.dtype == np.uint8
    assert clip.label == label and clip.label_id == LABELS.index(label)
    assert clip.meta['people'] == (2 if ACTIONS[label].people == 2 else clip.meta['people'])
    valid = clip.depth[clip.depth > 0]
    assert valid.size > 0.3 * clip.depth.size and valid.min() >= 400 and valid.max() <= 8000


def _person_masks(scene, t):
    """Foreground masks: where the people change the depth image, and where they change the RGB image."""
    scene.sensor = SensorModel(noise_a=0, noise_b=0, edge_drop=0, dropout=0, disparity_step=1e-6)
    empty = Scene.__new__(Scene)
    empty.__dict__.update(scene.__dict__)
    empty.poses = lambda t: []
    d_empty, c_empty = empty.render(t, 0)
    d, c = scene.render(t, 0)      # same frame index: identical RGB noise, so any change is the people
    return d != d_empty, np.any(c != c_empty, axis=-1)


@pytest.mark.parametrize('label', ['walking', 'punching', 'drinking'])
def test_rgb_and_depth_are_pixel_aligned(label):
    depth_fg, rgb_fg = _person_masks(Scene(label, 11, size=(120, 160)), 0.8)
    assert depth_fg.sum() > 100
    iou = (depth_fg & rgb_fg).sum() / (depth_fg | rgb_fg).sum()
    assert iou > 0.97
    shifted = np.roll(depth_fg, 2, axis=1)       # two pixels off is clearly worse
    assert (shifted & rgb_fg).sum() / (shifted | rgb_fg).sum() < iou - 0.1


def test_sensor_model_invalid_pixel_rates():
    sensor = SensorModel(dropout=0.01, edge_drop=0.6)
    rng = np.random.default_rng(0)
    z = np.full((200, 200), 3.0)
    z[50:150, 50:150] = 1.5             # a box in front: occlusion edges around it
    z[:, :10] = 9.0                     # beyond range
    out = sensor.apply(z, 8.0, rng)
    assert np.all(out[:, :10] == 0)
    interior = out[60:140, 60:140]
    assert 0.005 < np.mean(interior == 0) < 0.02             # ~ dropout
    far_edge = np.concatenate([out[45:155, 49], out[45:155, 150]])
    assert 0.4 < np.mean(far_edge == 0) < 0.8                # far side of the edges ~ edge_drop
    near = interior[interior > 0] / 1000.0
    assert abs(near.mean() - 1.5) < 0.01 and near.std() < 0.02
    far = out[160:, 20:][out[160:, 20:] > 0] / 1000.0
    assert len(np.unique(far)) < len(np.unique(near)) * 3 and far.std() > near.std()  # noise grows with z


def test_dataset_write_load_round_trip(tmp_path):
    root = write_dataset(tmp_path / 'ds', clips_per_class=1, subjects=[3, 4], views=[1], frames=4, size=(30, 40))
    ds = SyntheticDataset.open(root)
    assert len(ds) == len(LABELS) and ds.info['labels'] == LABELS
    for i in (0, len(ds) - 1):
        depth, rgb, rec = ds.load(i)
        again = render_clip(rec['label'], rec['seed'], frames=4, size=(30, 40), subject=rec['subject'], view=rec['view'])
        assert np.array_equal(depth, again.depth) and np.array_equal(rgb, again.rgb)
        assert rec['subject'] in (3, 4) and rec['view'] == 1
    (root / ds.records[0]['path']).write_bytes(b'not a zip')
    with pytest.raises(DatasetError, match=ds.records[0]['path']):
        ds.load(0)
    (root / 'dataset.json').unlink()
    with pytest.raises(DatasetError, match='dataset.json'):
        SyntheticDataset.open(root)


def test_playlists_and_ranges():
    assert [s.action for s in parse_playlist(['walking:2', 'falling_down'])] == ['walking', 'falling_down']
    with pytest.raises(ValueError, match='dancing'):
        parse_playlist(['dancing:3'])
    with pytest.raises(ValueError, match='not a number'):
        parse_playlist(['walking:x'])
    pl = random_playlist(np.random.default_rng(0), n=40)
    assert not any(a.alarm and b.alarm for a, b in zip(pl, pl[1:]))
    assert any(s.alarm for s in pl) and parse_range('1-3,7') == [1, 2, 3, 7]


def test_contact_sheet_has_one_row_per_class():
    sheet = contact_sheet(0, frames=(1,), size=(30, 40))
    assert sheet.shape[0] == len(LABELS) * (30 + 18) and sheet.dtype == np.uint8


def test_check_says_whether_a_folder_holds_the_rendering_asked_for(tmp_path, capsys):
    """``synthetic.dataset --check`` (what training/render.sh asks): older dataset.json files and the lens range."""
    from depth_action_recognition.synthetic.dataset import holds, main, parser, write_dataset
    clips = tmp_path / 'clips'
    write_dataset(clips, clips_per_class=1, subjects=[1], views=[0], frames=4, size=(30, 40), seed=3,
                  labels=['waving', 'kicking'])
    ask = ['--out', str(clips), '--clips-per-class', '1', '--subjects', '1', '--views', '0', '--frames', '4',
           '--size', '30x40', '--seed', '3', '--labels', 'waving', 'kicking']
    assert holds(clips, parser().parse_args(ask))
    assert not holds(clips, parser().parse_args([*ask, '--seed', '4']))
    info = json.loads((clips / 'dataset.json').read_text())
    del info['kind']                                   # written before stream windows existed, fps an integer
    info['fps'] = 10
    (clips / 'dataset.json').write_text(json.dumps(info))
    assert holds(clips, parser().parse_args(ask))
    assert main(['--check', *ask]) == 0 and main(['--check', *ask, '--frames', '8']) == 3
    (clips / 'dataset.json').write_text('[1, 2]')      # JSON, but not a dataset's
    assert main(['--check', *ask]) == 2 and 'not hold a JSON object' in capsys.readouterr().err
    win = tmp_path / 'win'
    write_dataset(win, kind='stream', clips_per_class=1, subjects=[1], views=[0], frames=4, seed=3,
                  labels=['waving', 'kicking'], modes=['d4xx-424'], hfov_range=(55, 60))
    ask = ['--out', str(win), '--kind', 'stream', '--clips-per-class', '1', '--subjects', '1', '--views', '0',
           '--frames', '4', '--seed', '3', '--labels', 'waving', 'kicking', '--modes', 'd4xx-424']
    assert holds(win, parser().parse_args([*ask, '--hfov-range', '55', '60']))
    assert not holds(win, parser().parse_args(ask))                                # the nominal lenses
    assert not holds(win, parser().parse_args([*ask, '--hfov-range', '55', '61']))


def test_partners_pool_changes_only_the_second_person():
    """``partners`` draws the second person from a pool (a split's own subjects) and leaves the rest of the scene."""
    held_out = range(31, 41)
    seen = set()
    for seed in range(40):
        free, kept = Scene('pushing', seed, subject=33), Scene('pushing', seed, subject=33, partners=held_out)
        assert kept.partner in held_out and kept.partner != 33 and kept.bodies[1] == make_body(kept.partner)
        assert free.bodies[0] == kept.bodies[0] and free.params.keys() == kept.params.keys()
        assert all(np.array_equal(free.params[k], kept.params[k]) for k in free.params)
        assert np.array_equal(free.pos, kept.pos) and free.yaw == kept.yaw and free.onset == kept.onset
        assert np.array_equal(free.camera.position, kept.camera.position)
        seen.add(kept.partner)
    assert seen == set(held_out) - {33}           # every other subject of the pool turns up
    assert Scene('waving', 3, subject=5, people=1, partners=[5]).partner is None        # nobody else to draw
    # a scene without a second person renders the same, pixel for pixel, whatever the pool
    alone, pooled = (render_clip('waving', 3, frames=2, size=(30, 40), subject=5, people=1, partners=p)
                     for p in (None, [31, 32]))
    assert np.array_equal(alone.depth, pooled.depth) and np.array_equal(alone.rgb, pooled.rgb)
    with pytest.raises(ValueError, match='no subject other than 33'):
        Scene('pushing', 0, subject=33, partners=[33])


def test_a_split_dataset_keeps_its_partners_inside_the_split(tmp_path):
    """``--partners split`` renders every second person from ``--subjects``, records it, and is another rendering."""
    from depth_action_recognition.synthetic.dataset import holds, parser
    ask = ['--clips-per-class', '3', '--subjects', '31-33', '--views', '0', '--frames', '2', '--size', '30x40',
           '--seed', '2', '--labels', 'punching', 'pushing']
    for kind, extra in (('clips', []), ('stream', ['--modes', 'sim160'])):
        args = parser().parse_args(['--out', str(tmp_path / kind), '--kind', kind, *ask, *extra, '--partners', 'split'])
        root = write_dataset(args.out, clips_per_class=3, subjects=[31, 32, 33], views=[0], frames=2, size=(30, 40),
                             seed=2, labels=['punching', 'pushing'], kind=kind, modes=args.modes, partners='split')
        recs = SyntheticDataset.open(root).records
        assert len(recs) == 6 and all(r['partner'] in (31, 32, 33) and r['partner'] != r['subject'] for r in recs)
        assert holds(root, args)
        assert not holds(root, parser().parse_args(['--out', str(root), '--kind', kind, *ask, *extra]))
    with pytest.raises(DatasetError, match='partners'):
        write_dataset(tmp_path / 'bad', clips_per_class=1, frames=2, size=(30, 40), partners='held-out')
    with pytest.raises(DatasetError, match='two or more subjects'):
        write_dataset(tmp_path / 'one', clips_per_class=1, subjects=[5], frames=2, size=(30, 40), partners='split')


# Digests of renderings of each world round: every recorded figure of the project was rendered by one of them
# (the shipped model's training folders by round 4, the figures since docs/streaming.md's "World round 5" by
# round 5), so a change that moves a pixel of either must be a new round of the world, on purpose, with these
# digests and the figures renewed. Round 4's digest is the one it had before round 5 existed.
WORLD_DIGESTS = {4: 'b1af2177c1cba9b934d1f9b9fdaa744e5e2cedced0337d140341effeef9bd56c',
                 5: '3c27228f6adaf0aec46f8ec0696e7a482d26e4f79290940bc6d687577a9677c3'}


@pytest.mark.parametrize('world', sorted(WORLD_DIGESTS))
def test_each_world_round_renders_as_it_always_has(world):
    import hashlib
    from depth_action_recognition.synthetic.stream import render_window
    options = {} if world == WORLD else {'world': world}         # the default is the newest round
    h = hashlib.sha256()
    for label, seed in [('punching', 5), ('kicking', 11), ('waving', 3), ('pushing', 40)]:
        clip = render_clip(label, seed, frames=4, subject=32, **options)
        h.update(clip.depth.tobytes())
        h.update(clip.rgb.tobytes())
    h.update(render_window('pushing', 7, frames=4, subject=33, view=1, rgb=False, **options).depth.tobytes())
    assert h.hexdigest() == WORLD_DIGESTS[world]


def blocked_sight_lines(world: int, seeds=range(200)) -> int:
    """Rooms (of ``seeds`` x the five views) in which a furniture box cuts a straight line from the camera
    to a point where people stand (within 0.6 m of the room's middle, feet to head)."""
    from depth_action_recognition.synthetic.scene import make_camera, make_room
    g = np.linspace(-0.6, 0.6, 5)
    targets = np.array([[x, y, z] for x in g for z in g for y in (0.1, 0.9, 1.7)])
    blocked = 0
    for seed in seeds:
        for view in range(5):
            rng = np.random.default_rng([seed, 1_000_003])             # a Scene's world stream, in its order
            cam = make_camera(view, rng, (120, 160))
            room = make_room(rng, cam, world=world)
            d = targets - cam.position                                  # t in (0, 1): between camera and person
            hit = False
            for lo, hi, _ in room.boxes:
                with np.errstate(divide='ignore', invalid='ignore'):
                    t1, t2 = (lo - cam.position) / d, (hi - cam.position) / d
                tmin = np.nanmax(np.minimum(t1, t2), axis=1)
                tmax = np.nanmin(np.maximum(t1, t2), axis=1)
                hit |= bool(np.any((tmax >= tmin) & (tmax > 0) & (tmin < 1)))
            blocked += hit
    return blocked


def test_furniture_keeps_out_of_the_cameras_way_from_round_5():
    assert blocked_sight_lines(5) == 0
    assert blocked_sight_lines(4) > 50           # of 1,000 rooms: round 4 put boxes in the way (or round the lens)


def test_the_stream_camera_round_4_blinded_reads_its_room_in_round_5():
    # Held-out-subject stream seed 14 (one minute, subjects 31-40, views 0-3) read no pixel in round 4: a box
    # stood against the lens. The same camera (its subject, view and world stream) in round 5 reads its room.
    from depth_action_recognition.stream_eval import scenario
    cam = scenario(14, 1.0, (120, 160), list(range(31, 41)), [0, 1, 2, 3])
    read = {}
    for world in (4, 5):
        scene = Scene('waving', 3, subject=cam.subject, view=cam.view, world_seed=cam.world_seed,
                      world=world)
        depth, _ = scene.render(0.5, 0, rgb=False)
        read[world] = float(np.mean(depth > 0))
    assert read[4] < 0.05 and read[5] > 0.9, read


def test_the_background_depth_is_what_a_pixel_reads_with_nobody_in_front_of_it():
    # held-out-subject stream seed 29's camera: its far wall lies beyond the sensor's range
    from depth_action_recognition.stream_eval import scenario
    cam = scenario(29, 1.0, (120, 160), list(range(31, 41)), [0, 1, 2, 3])
    scene = Scene('waving', 3, subject=cam.subject, view=cam.view, world_seed=cam.world_seed, world=5)
    bg = scene.background_depth
    assert bg.shape == scene.render(0.0, 0, rgb=False)[0].shape
    bg[:] = 0.5                                        # a copy: the scene renders on from its own
    assert scene.background_depth.min() > 0.5
    bg = scene.background_depth
    depth = scene.render(0.5, 0, rgb=False)[0] / 1000.0
    read = depth > 0
    # a reading is the room (within the sensor's noise and disparity steps) or somebody nearer than it
    assert np.all(depth[read] <= bg[read] * 1.05 + 0.05)
    assert np.mean(np.abs(depth[read] - bg[read]) < 0.05 * bg[read] + 0.02) > 0.5
    # and nothing beyond the sensor's range reads, unless somebody stands in front of it
    far = bg > scene.camera.max_range
    assert far.mean() > 0.3                            # 44% of this room
    assert np.all(~read[far] | (depth[far] < scene.camera.max_range)) and read[far].mean() < 0.2


def test_a_folder_records_its_world_round_and_folders_from_before_it_are_round_4(tmp_path):
    """A round-4 folder holds a ``--world 4`` request and not the default (round 5) one; a dataset.json from
    before world rounds were recorded (no ``world``) was rendered by round 4 and is taken as such."""
    from depth_action_recognition.synthetic.dataset import holds, parser
    ask = ['--clips-per-class', '1', '--views', '1', '--frames', '2', '--size', '30x40', '--seed', '4',
           '--labels', 'waving', 'pushing']
    root = write_dataset(tmp_path / 'r4', clips_per_class=1, views=[1], frames=2, size=(30, 40), seed=4,
                         labels=['waving', 'pushing'], world=4)
    fresh = write_dataset(tmp_path / 'r5', clips_per_class=1, views=[1], frames=2, size=(30, 40), seed=4,
                          labels=['waving', 'pushing'])
    info = json.loads((root / 'dataset.json').read_text())
    assert info['world'] == 4 and json.loads((fresh / 'dataset.json').read_text())['world'] == WORLD == 5
    old, new = SyntheticDataset.open(root), SyntheticDataset.open(fresh)
    assert [r['seed'] for r in old.records] == [r['seed'] for r in new.records]
    assert any(not np.array_equal(old.load(i)[0], new.load(i)[0]) for i in range(len(old)))   # another world
    for recorded in (info, {k: v for k, v in info.items() if k != 'world'}):
        (root / 'dataset.json').write_text(json.dumps(recorded))
        assert holds(root, parser().parse_args(['--out', str(root), *ask, '--world', '4']))
        assert not holds(root, parser().parse_args(['--out', str(root), *ask]))


def test_an_unknown_world_round_is_refused_by_name():
    with pytest.raises(ValueError, match='world must be one of the rounds'):
        render_clip('waving', 0, frames=1, world=3)
    with pytest.raises(DatasetError, match='world must be one of the rounds'):
        write_dataset('unused', clips_per_class=1, frames=1, world=6)


def test_a_camera_is_aimed_as_it_always_was_and_many_at_once_as_one_at_a_time():
    from depth_action_recognition.synthetic.scene import camera_at, level_rotation
    rng = np.random.default_rng(0)
    pos, look = rng.uniform(-4, 4, (500, 3)), rng.uniform(-1, 2, (500, 3))
    for p, q in zip(pos, look):          # camera_at's arithmetic before level_rotation existed, bit for bit
        fwd = q - p
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        assert np.array_equal(camera_at(p, q, (120, 160), 60.0).rotation,
                              np.stack([right, np.cross(right, fwd), fwd], axis=1))
    batched = level_rotation(pos, look)
    assert batched.shape == (500, 3, 3)
    np.testing.assert_allclose(batched, [level_rotation(p, q) for p, q in zip(pos, look)], rtol=0, atol=1e-12)


def test_camera_at_aims_its_axis_at_the_point_and_keeps_the_horizon_level():
    from depth_action_recognition.synthetic.scene import camera_at
    cam = camera_at([0.0, 1.5, 3.0], [0.0, 1.5, 0.0], (240, 424), 87.0)
    assert cam.f == pytest.approx(212 / np.tan(np.radians(43.5)))
    p = cam.to_camera(np.array([[0.0, 1.5, 0.0], [0.0, 2.5, 0.0], [1.0, 1.5, 0.0]]))
    u, v = cam.project(p)
    assert np.allclose(p[:, 2], 3.0) and (u[0], v[0]) == pytest.approx((212, 120))
    assert v[1] == pytest.approx(120 - cam.f / 3) and u[1] == pytest.approx(212)       # up is up
    assert u[2] > 212 and v[2] == pytest.approx(120)                                  # level: no roll
    down = camera_at([0.0, 2.4, 2.0], [0.0, 1.0, 0.0], (120, 160), 60.0)
    (u,), (v,) = down.project(down.to_camera(np.array([[0.0, 1.0, 0.0]])))
    assert (u, v) == pytest.approx((80, 60))


def test_a_point_is_in_view_in_front_of_the_near_limit_and_inside_the_image_for_one_camera_or_many():
    from depth_action_recognition.synthetic.scene import NEAR_M, camera_at, in_view
    cam = camera_at([0.0, 1.5, 3.0], [0.0, 1.5, 0.0], (120, 160), 60.0)
    half = 80 / cam.f                                  # tan of half the field of view
    p = np.array([[0.0, 0.0, 2.0],                     # straight ahead
                  [0.0, 0.0, -2.0],                    # behind: projects into the image, mirrored
                  [0.0, 0.0, NEAR_M],                  # at the renderer's near limit: not drawn
                  [1.01 * half * 2.0, 0.0, 2.0],       # just right of the image
                  [0.99 * half * 2.0, 0.0, 2.0]])      # just inside it
    assert cam.in_view(p).tolist() == [True, False, False, False, True]
    u, v = cam.project(p[:1])
    assert (u[0], v[0]) == (80, 60)
    # one camera per point, as bench/framing.py makes them: a wider lens (shorter focal length) sees the fourth
    f = np.array([cam.f, cam.f, cam.f, 0.9 * cam.f, cam.f])
    assert in_view(p, f, 160, 120).tolist() == [True, False, False, True, True]
    assert in_view(p.reshape(5, 1, 3), f[:, None], 160, 120).shape == (5, 1)


def test_the_partner_count_plans_the_people_a_rendering_shows(tmp_path):
    """bench/partners.py counts second persons without rendering: the same ones the rendered manifests record."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'bench'))
    from partners import second_persons
    from depth_action_recognition.synthetic.dataset import parser
    labels = ['waving', 'pushing']
    for kind in ('clips', 'stream'):
        args = ['--out', str(tmp_path / kind), '--kind', kind, '--clips-per-class', '6', '--subjects', '1-40',
                '--views', '0', '--frames', '4', '--size', '30x40', '--seed', '5', '--labels', *labels,
                *(['--modes', 'sim160'] if kind == 'stream' else [])]
        rendering = parser().parse_args(args)
        write_dataset(rendering.out, clips_per_class=6, subjects=list(range(1, 41)), views=[0], frames=4,
                      size=(30, 40), seed=5, labels=labels, kind=kind, modes=rendering.modes)
        recs = SyntheticDataset.open(rendering.out).records
        for spec in recs:
            shown = second_persons(spec, rendering, labels, None)
            if kind == 'clips' or not spec['straddle']:         # a window inside its own scene: that scene's people
                assert shown == {spec['partner']} - {None}
            else:
                assert spec['partner'] is None or spec['partner'] in shown
        assert any(r['partner'] for r in recs)
