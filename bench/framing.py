"""How much of the actor a camera frames: the share of poses with the head, and with both hands, inside the image.

    .venv/bin/python bench/framing.py [--split subjects|view] [--actions brushing_teeth drinking ...] [--scenes 60]

The streaming evaluation's cameras stand 2.3-3.5 m from the middle of the room (the actor within 0.6 m of it),
aimed at 0.6-1.0 m above the floor, with the simulator's 55-65 degree horizontal field of view at every size
(bench/stream_accuracy.py). With the same horizontal field, a 16:9 image has three quarters of a 4:3 image's
vertical field (36 degrees against 47 at 60 across), so a standing person's head and raised hands can leave the
top of it. This counts how often, on the stream evaluation's held-out subjects (31-40, views 0-3)
or its held-out view (4, subjects 1-30), for each camera below, at three instants of each scene; no rendering,
only the skeleton projected through each camera.
"""
import argparse

from common import ROOT  # noqa: F401  (puts the repository on the path)

from depth_action_recognition.synthetic.actions import ACTIONS, LABELS
from depth_action_recognition.synthetic.body import skeleton
from depth_action_recognition.synthetic.scene import NEAR_M, Scene

CAMERAS = {'120x160, 60 degrees': ((120, 160), 60.0), '240x424, 60 degrees': ((240, 424), 60.0),
           '240x424, 87 degrees': ((240, 424), 87.0)}


def in_image(cam, point) -> bool:
    p = cam.to_camera(point[None])
    if p[0, 2] <= NEAR_M:                       # behind the camera, or at it (the renderer's own near limit)
        return False
    (u,), (v,) = cam.project(p)
    return 0 <= u < cam.width and 0 <= v < cam.height


SPLITS = {'subjects': (range(31, 41), range(0, 4)), 'view': (range(1, 31), range(4, 5))}


def framing(action: str, size, hfov: float, scenes: int, split: str = 'subjects', times=(0.8, 1.6, 2.4)) -> tuple:
    """(share of poses with the head in the image, share with both hands in it, poses). Each scene is laid out as a
    stream's 3.2 s segment (a one-shot action starting 0.3 s in), ``times`` seconds into it; the actor is the
    first person (the one acting, in two-person actions)."""
    subjects, views = SPLITS[split]
    head = hands = n = 0
    one_shot = ACTIONS[action].duration > 0
    for seed in range(scenes):
        # the same seed places the same camera and actor whatever the size and field of view
        scene = Scene(action, seed, size=size, subject=subjects[seed % len(subjects)], view=views[seed % len(views)],
                      hfov=hfov, people=ACTIONS[action].people, clip_seconds=3.2, onset=0.3 if one_shot else None)
        for t in times:
            body, pose = scene.poses(t)[0]
            j = skeleton(body, pose)
            head += in_image(scene.camera, j['head'])
            hands += in_image(scene.camera, j['r_hand']) and in_image(scene.camera, j['l_hand'])
            n += 1
    return head / n, hands / n, n


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--actions', nargs='+', default=['brushing_teeth', 'drinking', 'waving', 'clapping', 'walking'],
                   choices=LABELS)
    p.add_argument('--scenes', type=int, default=60, help='scenes per action and camera')
    p.add_argument('--split', default='subjects', choices=list(SPLITS))
    args = p.parse_args()
    print(f'held-out {args.split}')
    print('| action | camera (HxW, horizontal field of view) | head in the image | both hands in the image | poses |')
    print('|---|---|---|---|---|')
    for action in args.actions:
        for name, (size, hfov) in CAMERAS.items():
            head, hands, n = framing(action, size, hfov, args.scenes, args.split)
            print(f'| {action} | {name} | {head:.0%} | {hands:.0%} | {n} |')


if __name__ == '__main__':
    main()
