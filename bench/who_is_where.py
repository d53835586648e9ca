"""Who stands where in a stream evaluation's scenario: to look into one missed or false alarm.

    .venv/bin/python bench/who_is_where.py --seed 2 --at 5.5 7.0 9.0 [--minutes 2] [--subjects 31-40] [--views 0-3]
    .venv/bin/python bench/who_is_where.py --seed 2 --two-person        # every two-person action of the scenario
    .venv/bin/python bench/who_is_where.py --cameras 0-59 --minutes 1   # each seed's camera, and whether round 5 moved its furniture

The scenario is the one `stream_eval` plays for that seed (the same playlist, subject, view and scenes; its
`--minutes`, `--subjects` and `--views` must match the run's, as its reports' ``runs`` give them). For each
instant: the action, the camera's height, and each person's height, horizontal distance from the camera and
bearing off the camera's axis; "in front of the actor" when the second person is nearer the camera and the two
overlap in the image (taken as 0.5 m wide bodies: their bearings differ by less than the sum of the angles half
a body spans at each one's distance), so that it hides part of the actor. No rendering, seconds; ``--depth`` renders the frame at each instant and says how much
of it has a reading (in world round 4 furniture could blind a camera: it read almost nothing).
"""
import argparse

import numpy as np

from common import ROOT  # noqa: F401  (puts the repository on the path)

from depth_action_recognition.stream_eval import scenario
from depth_action_recognition.synthetic.actions import ACTIONS
from depth_action_recognition.synthetic.dataset import PARTNERS, parse_range
from depth_action_recognition.synthetic.scene import WORLD, WORLDS


def cameras(seeds: list, args) -> None:
    """One line per seed: subject, view, camera height, the actor's mean horizontal distance from the camera."""
    print('| seed | subject | view | camera height (m) | actor distance (m, mean over the actions) | furniture moved '
          'from round 4 |')
    print('|---|---|---|---|---|---|')
    for seed in seeds:
        cam = scenario(seed, args.minutes, (120, 160), parse_range(args.subjects), parse_range(args.views),
                       partners=args.partners, world=args.world)
        cam.segment_at(args.minutes * 60 - 1e-6)
        scenes = [cam.scene(k) for k in range(len(cam.segments))]
        far = np.mean([np.hypot(*(sc.camera.position - sc.pos)[[0, 2]]) for sc in scenes])
        moved = 'n/a'
        if args.world != 4:                                             # the same camera's room in round 4
            round4 = scenario(seed, args.minutes, (120, 160), parse_range(args.subjects), parse_range(args.views),
                              partners=args.partners, world=4)
            round4.segment_at(0.0)                                      # lay the first segment out
            old, new = round4.scene(0).room.boxes, scenes[0].room.boxes
            moved = 'yes' if len(old) != len(new) or any(not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]))
                                                         for a, b in zip(old, new)) else 'no'
        print(f'| {seed} | {cam.subject} | {cam.view} | {scenes[0].camera.position[1]:.2f} | {far:.2f} | {moved} |')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--seed', type=int, default=None)
    p.add_argument('--at', type=float, nargs='+', default=[], help='scenario times, seconds')
    p.add_argument('--two-person', action='store_true',
                   help='also every two-person action of the scenario, at its middle, and how many had the '
                        'second person in front of the actor')
    p.add_argument('--minutes', type=float, default=2.0)
    p.add_argument('--subjects', default='31-40')
    p.add_argument('--views', default='0-3')
    p.add_argument('--partners', default='any', choices=PARTNERS)
    p.add_argument('--world', type=int, default=WORLD, choices=WORLDS, help='world round (default %(default)s)')
    p.add_argument('--depth', action='store_true',
                   help='also render the frame at each instant (160x120) and say how much of it has a depth reading')
    p.add_argument('--cameras', default=None, metavar='SEEDS',
                   help="instead: each seed's camera (e.g. 0-59): its height and the actor's mean horizontal "
                        "distance from it over the scenario's actions")
    args = p.parse_args()
    if args.cameras:
        cameras(parse_range(args.cameras), args)
        return
    if args.seed is None:
        p.error('--seed is needed (or --cameras)')
    cam = scenario(args.seed, args.minutes, (120, 160), parse_range(args.subjects), parse_range(args.views),
                   partners=args.partners, world=args.world)
    print(f'seed {args.seed}: subject {cam.subject}, view {cam.view}')
    times = list(args.at)
    if args.two_person:
        cam.segment_at(args.minutes * 60 - 1e-6)                        # lay the segments out
        times += [s.start + s.duration / 2 for s in cam.segments
                  if ACTIONS[s.action].people == 2 and s.start + s.duration <= args.minutes * 60]
    covered = []
    for t in sorted(times):
        k = cam.segment_number(t)
        if k is None:
            print(f'{t:g} s: after the scenario')
            continue
        seg, scene = cam.segments[k], cam.scene(k)
        c = scene.camera
        axis = np.arctan2(c.rotation[0, 2], c.rotation[2, 2])           # the optical axis's bearing (world x, z)
        people = []
        for body, pose in scene.poses(t - seg.start):
            dx, dz = pose.x - c.position[0], pose.z - c.position[2]
            bearing = np.degrees((np.arctan2(dx, dz) - axis + np.pi) % (2 * np.pi) - np.pi)
            people.append((body, float(np.hypot(dx, dz)), float(bearing)))
        if args.depth:
            depth, _ = cam.render(t, int(round(t * 30)))
            valid = depth > 0
            seen = (f'{valid.mean():.0%} of the pixels with a reading, median '
                    f'{np.median(depth[valid]) / 1000:.2f} m; ' if valid.any() else 'no pixel with a reading; ')
            # the empty room's surfaces past the sensor's range read nothing (where nobody stands in front of them)
            seen += (f'{np.mean(scene.background_depth > c.max_range):.0%} of the room beyond the camera\'s '
                     f'{c.max_range:.1f} m range; ')
        else:
            seen = ''
        line = (f'{t:g} s: {seg.action} ({seg.start:g}-{seg.start + seg.duration:g} s), camera {c.position[1]:.2f} m high; '
                + seen
                + '; '.join(f'{"actor" if i == 0 else "second person"} {body.height:.2f} m tall, {d:.2f} m away, '
                            f'{b:+.0f} degrees' for i, (body, d, b) in enumerate(people)))
        if len(people) == 2:
            (_, d0, b0), (_, d1, b1) = people
            # 0.5 m wide bodies overlap in the image when their bearings are nearer than their half-widths' sum
            covers = d1 < d0 and abs(b1 - b0) < np.degrees(np.arctan(0.25 / d0) + np.arctan(0.25 / d1))
            line += '; in front of the actor' if covers else ''
            covered.append(covers)
        print(line)
    if args.two_person:
        print(f'{sum(covered)} of {len(covered)} two-person instants with the second person in front of the actor')


if __name__ == '__main__':
    main()
