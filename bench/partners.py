"""Whom a rendering shows besides its actor: how many training samples hold a held-out subject as the second person.

    .venv/bin/python bench/partners.py [--train-subjects 1-30] [--train-views 0-3] [--held-out 31-40] \
        -- DATASET ARGS          # the arguments of a `synthetic.dataset` command, e.g. --clips-per-class 400 --seed 0

The held-out-subject splits hold subjects 31-40 out as actors. Since world round 4 the second person of a scene
(the partner of a two-person action, or a bystander) is any other of the 40 subjects, so a training sample can
show a held-out subject beside a training actor; `synthetic.dataset --partners split` draws it from the
folder's own subjects instead. This plans a rendering as `synthetic.dataset` would (the same specs, scenes and
windows, laid out on a tiny image and never rendered), keeps the samples `training.distill` trains on (actors in
`--train-subjects`, views in `--train-views`), and counts those with a second person and those where it is
one of `--held-out`. For stream windows it counts the people in the window's own frames (a window may span two
scenes). About a minute per folder of thousands of stream windows on one core, seconds for clips.
"""
import argparse

from common import ROOT  # noqa: F401  (puts the repository on the path)

from depth_action_recognition.synthetic.actions import LABELS
from depth_action_recognition.synthetic.dataset import parse_range, parser, partner_pool, plan
from depth_action_recognition.synthetic.scene import Scene
from depth_action_recognition.synthetic.stream import plan_window


TINY = (16, 16)       # whom a scene holds does not depend on its image size; a small one is quick to lay out


def second_persons(spec: dict, rendering, labels: list, partners) -> set:
    """The subjects seen in a sample besides its actor: its scene's partner or bystander (none if alone)."""
    if rendering.kind == 'clips':
        scene = Scene(spec['label'], spec['seed'], size=TINY, subject=spec['subject'], view=spec['view'],
                      partners=partners)
        return {scene.partner} - {None}
    cam, times, idx, _, _ = plan_window(spec['label'], spec['seed'], frames=rendering.frames, fps=rendering.fps,
                                        size=TINY, subject=spec['subject'], view=spec['view'], neighbours=labels,
                                        partners=partners)
    return {cam.scene(k).partner for k in sorted({cam.segment_number(times[i]) for i in idx})} - {None}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--train-subjects', default='1-30', help="the actors training keeps (training.distill's split)")
    p.add_argument('--train-views', default='0-3', help='the views training keeps')
    p.add_argument('--held-out', default='31-40', help='subjects that no training sample should show')
    p.add_argument('dataset', nargs=argparse.REMAINDER, help='-- then the synthetic.dataset arguments')
    args = p.parse_args()
    rendering = parser().parse_args(['--out', '-', *[a for a in args.dataset if a != '--']])
    labels = list(rendering.labels or LABELS)
    subjects, views = parse_range(rendering.subjects), parse_range(rendering.views)
    train_subjects, train_views = set(parse_range(args.train_subjects)), set(parse_range(args.train_views))
    held_out = set(parse_range(args.held_out))
    pool = partner_pool(rendering.partners, subjects)
    specs = [s for s in plan(rendering.clips_per_class, subjects, views, rendering.seed, labels)
             if s['subject'] in train_subjects and s['view'] in train_views]
    with_second = with_held_out = 0
    per_subject: dict = {}
    for spec in specs:
        people = second_persons(spec, rendering, labels, pool)
        with_second += bool(people)
        shown = people & held_out
        with_held_out += bool(shown)
        for s in shown:
            per_subject[s] = per_subject.get(s, 0) + 1
    print(f'{rendering.kind}, {rendering.clips_per_class} per class, seed {rendering.seed}, subjects '
          f'{rendering.subjects}, views {rendering.views}, partners {rendering.partners}: {len(specs)} training samples '
          f'(subjects {args.train_subjects}, views {args.train_views}), {with_second} with a second person, '
          f'{with_held_out} ({100 * with_held_out / max(1, len(specs)):.1f}%) with one of {args.held_out}')
    if per_subject:
        print('  held-out subjects shown: ' + ', '.join(f'{s}: {n}' for s, n in sorted(per_subject.items())))


if __name__ == '__main__':
    main()
