"""How much of the actor a camera frames: the share of poses with the head, and with both hands, inside the image.

    .venv/bin/python bench/framing.py [--split subjects|view] [--actions brushing_teeth drinking ...] [--scenes 60]
    .venv/bin/python bench/framing.py --mounting [--aim 1.0] [--share 0.98]     # how far from people to mount a camera

The streaming evaluation's cameras stand 2.3-3.5 m from the middle of the room (the actor within 0.6 m of it),
aimed at 0.6-1.0 m above the floor, with the simulator's 55-65 degree horizontal field of view at every size
(bench/stream_accuracy.py). With the same horizontal field, a 16:9 image has three quarters of a 4:3 image's
vertical field (36 degrees against 47 at 60 across), so a standing person's head and raised hands can leave the
top of it. This counts how often, on the stream evaluation's held-out subjects (31-40, views 0-3)
or its held-out view (4, subjects 1-30), for each camera below, at three instants of each scene; no rendering,
only the skeleton projected through each camera.

``--mounting`` turns the question round for whoever installs a camera: for each camera mode at its own field
of view (and a 16:9 camera behind a 65 degree lens), mounted 1.2, 1.8 or 2.4 m above the floor and aimed at
``--aim`` m above the spot where people act, the nearest horizontal distance from that spot from which on the
head and both hands are in the image in ``--share`` of the poses of every action, done by all 40 subjects (the
tallest 1.94 m). Nearer than that, people are cut off at the top or the bottom of the image. About two minutes.
"""
import argparse

import numpy as np

from common import ROOT  # noqa: F401  (puts the repository on the path)

from depth_action_recognition.synthetic.actions import ACTIONS, LABELS
from depth_action_recognition.synthetic.body import skeleton
from depth_action_recognition.synthetic.scene import N_SUBJECTS, Scene, focal_length, in_view, level_rotation
from depth_action_recognition.synthetic.stream import CAMERA_MODES

CAMERAS = {'120x160, 60 degrees': ((120, 160), 60.0), '240x424, 60 degrees': ((240, 424), 60.0),
           '240x424, 87 degrees': ((240, 424), 87.0)}


def in_image(cam, point) -> bool:
    return bool(cam.in_view(cam.to_camera(point[None]))[0])


SPLITS = {'subjects': (range(31, 41), range(0, 4)), 'view': (range(1, 31), range(4, 5))}


TIMES = (0.8, 1.6, 2.4)


def actor_scenes(action: str, scenes: int, subjects, views, size=(120, 160), hfov=None):
    """``scenes`` scenes of ``action`` laid out as a stream's 3.2 s segment (a one-shot action starting 0.3 s in),
    subjects and views in turn (``views`` None: each scene draws its own); the same seed places the same camera and
    actor whatever the size and lens."""
    one_shot = ACTIONS[action].duration > 0
    for seed in range(scenes):
        view = None if views is None else views[seed % len(views)]
        yield Scene(action, seed, size=size, subject=subjects[seed % len(subjects)], view=view,
                    hfov=hfov, people=ACTIONS[action].people, clip_seconds=3.2, onset=0.3 if one_shot else None)


def actor_joints(scene, times=TIMES) -> list:
    """The actor's (the first person's: the one acting, in two-person actions) joints at ``times`` seconds."""
    return [skeleton(*scene.poses(t)[0]) for t in times]


def framing(action: str, size, hfov: float, scenes: int, split: str = 'subjects') -> tuple:
    """(share of poses with the head in the image, share with both hands in it, poses), :data:`TIMES` seconds into
    each of ``scenes`` scenes of the split's cameras."""
    head = hands = n = 0
    for scene in actor_scenes(action, scenes, *SPLITS[split], size=size, hfov=hfov):
        for j in actor_joints(scene):
            head += in_image(scene.camera, j['head'])
            hands += in_image(scene.camera, j['r_hand']) and in_image(scene.camera, j['l_hand'])
            n += 1
    return head / n, hands / n, n


MOUNT_HEIGHTS = (1.2, 1.8, 2.4)
DISTANCES = [1.0 + 0.25 * i for i in range(21)]          # 1.0-6.0 m


def mounting_cameras() -> dict:
    """{name: (size, field of view)}: every camera mode at its own lens, and a 16:9 one behind a narrow lens."""
    out = {f'{mode} ({h}x{w}, {fov:g} degrees)': ((h, w), fov) for mode, (w, h, fov) in CAMERA_MODES.items()}
    out['16:9 narrow lens (240x424, 65 degrees)'] = ((240, 424), 65.0)
    return out


def pose_points(scenes: int) -> dict:
    """{action: [(spot on the floor, unit horizontal direction from it towards the scene's camera, head, right
    hand, left hand)]}: the actor in ``scenes`` scenes of each action, subjects 1-40 in turn, each scene's view
    drawn (so that a subject is not always seen from one side)."""
    out = {}
    for action in LABELS:
        out[action] = []
        for scene in actor_scenes(action, scenes, range(1, N_SUBJECTS + 1), None):
            joints = actor_joints(scene)
            # the spot: where the actor is on average (a walk crosses it, a fall ends beside it)
            spot = np.mean([j['pelvis'] for j in joints], axis=0) * [1.0, 0.0, 1.0]
            to_cam = (scene.camera.position - spot) * [1.0, 0.0, 1.0]
            to_cam /= np.linalg.norm(to_cam)
            out[action] += [(spot, to_cam, j['head'], j['r_hand'], j['l_hand']) for j in joints]
    return out


def framed_share(points, size, hfov: float, height: float, distance: float, aim: float) -> float:
    """Share of ``points`` (one action's of :func:`pose_points`) with the head and both hands in the image of a
    camera mounted ``height`` m up, ``distance`` m from the actor's spot towards where the scene's camera stood,
    aimed at ``aim`` m above the spot. One camera per pose, all made and projected at once (``in_image``'s test)."""
    spot, to_cam, joints = (np.array([pt[0] for pt in points]), np.array([pt[1] for pt in points]),
                            np.array([pt[2:] for pt in points]))                     # (N, 3), (N, 3), (N, 3, 3)
    pos = spot + to_cam * distance
    pos[:, 1] = height
    rotation = level_rotation(pos, spot + np.array([0.0, aim, 0.0]))             # (N, 3, 3)
    p = np.einsum('njk,nkc->njc', joints - pos[:, None], rotation)               # camera frame, as to_camera
    h, w = size
    return float(np.mean(np.all(in_view(p, focal_length(w, hfov), w, h), axis=1)))


def mounting_table(scenes: int, aim: float, share: float) -> None:
    points = pose_points(scenes)
    n = sum(map(len, points.values()))
    print(f'nearest distance (m, horizontal, {DISTANCES[0]:g}-{DISTANCES[-1]:g} in steps of 0.25) from which on the head and '
          f'both hands are in the image in >= {share:.0%} of the poses of every action ({n} poses, subjects '
          f'1-{N_SUBJECTS}), camera aimed at {aim:g} m above the spot; after it, the action that needed it most')
    print('| camera | ' + ' | '.join(f'mounted {h:g} m high' for h in MOUNT_HEIGHTS) + ' |')
    print('|---|' + '---|' * len(MOUNT_HEIGHTS))
    for name, (size, hfov) in mounting_cameras().items():
        cells = []
        for height in MOUNT_HEIGHTS:
            worst = [min((framed_share(p, size, hfov, height, d, aim), a) for a, p in points.items())
                     for d in DISTANCES]
            ok = [w >= share for w, _ in worst]
            # from how near on every distance out to the last frames them (a steep view from close by may frame
            # them too, then lose them a step farther: not a distance to plan with)
            i = next((i for i in range(len(DISTANCES)) if all(ok[i:])), None)
            if i is None:
                cells.append(f'> {DISTANCES[-1]:g} ({worst[-1][1]} {worst[-1][0]:.0%})')
            elif i == 0:
                cells.append(f'<= {DISTANCES[0]:g}')
            else:
                cells.append(f'{DISTANCES[i]:g} ({worst[i - 1][1]})')
        print(f'| {name} | ' + ' | '.join(cells) + ' |')


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--actions', nargs='+', default=['brushing_teeth', 'drinking', 'waving', 'clapping', 'walking'],
                   choices=LABELS)
    p.add_argument('--scenes', type=int, default=60, help='scenes per action and camera')
    p.add_argument('--split', default='subjects', choices=list(SPLITS))
    p.add_argument('--mounting', action='store_true', help='how far from people each camera must be mounted')
    p.add_argument('--aim', type=float, default=1.0, help='--mounting: height (m) the camera is aimed at')
    p.add_argument('--share', type=float, default=0.98, help='--mounting: share of poses that must be framed')
    args = p.parse_args()
    if args.mounting:
        mounting_table(args.scenes, args.aim, args.share)
        return
    print(f'held-out {args.split}')
    print('| action | camera (HxW, horizontal field of view) | head in the image | both hands in the image | poses |')
    print('|---|---|---|---|---|')
    for action in args.actions:
        for name, (size, hfov) in CAMERAS.items():
            head, hands, n = framing(action, size, hfov, args.scenes, args.split)
            print(f'| {action} | {name} | {head:.0%} | {hands:.0%} | {n} |')


if __name__ == '__main__':
    main()
