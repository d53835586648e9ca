"""The alarm threshold, chosen on validation streams: recall, precision and false alarms per hour at each value.

    .venv/bin/python bench/alarm_threshold.py [--seeds 100-135] [--minutes 1] [--sizes 120x160 240x424] \
        [--subjects 1-30] [--views 0-3] [--thresholds 0.3 0.35 ... 0.8] [--min-precision 0.98] \
        [--cooldowns 0 3 5 10]

The recognizer raises an alarm when an alarm label wins the mean of the last clips with at least
``score_threshold`` (config/monitor.yaml). Choosing that value on the test streams would fit it to them; this
plays *validation* streams instead: scenario seeds that no other evaluation uses (100 on), performed by the
training subjects in the training views, their partners too (people and cameras the model has seen, in streams
it has not). Each
stream goes through the node's clip buffer, preprocessing and model once (``stream_eval.record``) and is then
scored with every threshold (``stream_eval.score``: the same smoothing and alarm policy as the node), labels
matched. The rule, fixed before any test stream is scored with it: of the thresholds whose validation
precision is at least ``--min-precision``, the one whose own raises catch the most episodes (held ones aside); of equals, the highest
(the fewest false alarms). For the episodes missed at the params file's threshold it also says whether their
label ever won the mean of a clip inside them. ``--cooldowns`` scores the same recordings at the params file's
threshold with each ``cooldown_s`` (the least time between two raises of one alarm on one camera): what a
shorter cooldown catches of the episodes that follow an alarm of their label closely, and what it costs in
*repeats* (a raise of an episode's label when an earlier raise already caught that episode: the same event
raised twice, which precision, counting it right, does not show). Minutes on the 2-core CPU.
"""
import argparse
import time
from collections import Counter

from common import ROOT  # noqa: F401  (puts the repository on the path)

from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.engine import InferenceEngine
from depth_action_recognition.evaluation import OnlineEvaluator
from depth_action_recognition.resources import default_model_path, default_params_file
from depth_action_recognition.stream_eval import (T0, earliest_alarm, node_settings, record, recognizer_params,
                                                  scenario, score, smoothed)
from depth_action_recognition.synthetic.dataset import PARTNERS, parse_range
from depth_action_recognition.synthetic.scene import WORLD, WORLDS


def winners(rec, labels: list, smooth_clips: int) -> list:
    """(window start, window end, label that won the mean, the score the alarm rule is given) of each of ``rec``'s
    clips, as the node would smooth them (``stream_eval.smoothed``)."""
    return [(clip.start_stamp, clip.end_stamp, label, sc) for clip, label, sc in smoothed(rec, labels, smooth_clips)]


def why(ep: dict, won: dict, threshold: float) -> str:
    """What the clips wholly inside missed episode ``ep`` show: 'no clip inside it', 'another label won every
    clip', 'its label won, under the threshold' (or only while the mean was not full), or 'its label won, over the
    threshold' (and the policy still raised nothing: an alarm of that label cooling down after a raise, or too few
    such clips for the k-of-n rule)."""
    tol = 0.005                     # a report's episode times are rounded to 10 ms
    inside = [(label, sc) for start, end, label, sc in won[ep['camera']]
              if start >= T0 + ep['start_s'] - tol and end <= T0 + ep['end_s'] + tol]
    own = [sc for label, sc in inside if label == ep['label']]
    if not inside:
        return 'no clip inside it'
    if not own:
        return 'another label won every clip'
    return 'its label won, under the threshold' if max(own) < threshold else 'its label won, over the threshold'


def repeats(ev: OnlineEvaluator) -> int:
    """Raises that fall in an episode of their label (to the evaluator's ``tolerance_s`` after it) an earlier
    raise already fell in."""
    out = 0
    for camera, start, end, label in ev.episodes():
        out += max(0, sum(c == camera and lab == label and start <= t <= end + ev.tolerance_s
                          for c, t, lab in ev.raised) - 1)
    return out


def why_missed(missed: list, won: dict, threshold: float) -> Counter:
    """:func:`why` of each missed episode, counted."""
    return Counter(why(ep, won, threshold) for ep in missed)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default=None, help='student .safetensors (default: the shipped model)')
    p.add_argument('--params-file', default=None, help='recognizer parameters (default: config/monitor.yaml)')
    p.add_argument('--seeds', default='100-135', help='validation scenario seeds')
    p.add_argument('--minutes', type=float, default=1.0, help='stream length per seed')
    p.add_argument('--sizes', nargs='+', default=['120x160', '240x424'])
    p.add_argument('--subjects', default='1-30')
    p.add_argument('--views', default='0-3')
    p.add_argument('--thresholds', nargs='+', type=float,
                   default=[round(0.3 + 0.05 * i, 2) for i in range(11)])
    p.add_argument('--min-precision', type=float, default=0.98)
    p.add_argument('--cooldowns', nargs='+', type=float, default=[],
                   help="also score the params file's threshold with each of these cooldown_s values (seconds)")
    p.add_argument('--partners', default='split', choices=PARTNERS,
                   help="the scenes' second person: one of --subjects (default: only training people in view), or any")
    p.add_argument('--world', type=int, default=WORLD, choices=WORLDS, help='world round (default %(default)s)')
    p.add_argument('--device', default='cpu', help='auto, cuda or cpu')
    args = p.parse_args()
    loaded = load_checkpoint(args.model or default_model_path())
    params = recognizer_params(args.params_file or default_params_file())
    settings = {t: node_settings({**params, 'score_threshold': t}, loaded) for t in args.thresholds}
    base = node_settings(params, loaded)
    engine = InferenceEngine(loaded, args.device, max_batch=base.max_batch, flip_average=base.flip_average)
    evaluators = {t: OnlineEvaluator(detect_s=earliest_alarm(s)) for t, s in settings.items()}
    cooled = {c: node_settings({**params, 'cooldown_s': c}, loaded) for c in args.cooldowns}
    by_cooldown = {c: OnlineEvaluator(detect_s=earliest_alarm(s)) for c, s in cooled.items()}
    t0 = time.time()
    labels = list(loaded.meta.labels)
    won = {}                            # camera -> winners() at the params file's smoothing
    for size in args.sizes:
        h, w = (int(v) for v in size.split('x'))
        for seed in parse_range(args.seeds):
            cam = scenario(seed, args.minutes, (h, w), parse_range(args.subjects), parse_range(args.views),
                           partners=args.partners, world=args.world)
            rec = record(loaded, engine, base, cam, minutes=args.minutes)
            name = f'/{size}/seed{seed}'
            won[name] = winners(rec, labels, base.smooth_clips)
            for t, ev in evaluators.items():
                score(rec, labels, settings[t], ev, camera=name)
            for c, ev in by_cooldown.items():
                score(rec, labels, cooled[c], ev, camera=name)
    print(f'{loaded.short_id}: {len(parse_range(args.seeds))} validation streams of {args.minutes:g} min (seeds '
          f'{args.seeds}, subjects {args.subjects}, views {args.views}, partners {args.partners}) at '
          f'{", ".join(args.sizes)}; smoothing over '
          f'{base.smooth_clips} clip(s), alarm on {base.alarm.k} of the last {base.alarm.n}; {time.time() - t0:.0f} s')
    print('| score_threshold | alarm recall | alarm precision | false alarms / h |')
    print('|---|---|---|---|')
    chosen, best, reports = None, -1, {}
    for t, ev in sorted(evaluators.items()):
        r = reports[t] = ev.report()
        eps, raised, false = r['alarm_episodes'], r['alarms_raised'], len(r['false_alarms'])
        caught, held = eps - len(r['missed_episodes']), r['alarm_episodes_held']
        precision = (raised - false) / raised if raised else 1.0
        # chosen on episodes its own raise caught: a held one costs nothing at any threshold, and would favour
        # low ones whose label kept winning between two episodes
        if precision >= args.min_precision and caught - held >= best:
            chosen, best = t, caught - held
        print(f'| {t:g} | {caught}/{eps} ({100 * caught / max(1, eps):.1f}%; {held} held) | {raised - false}/{raised} '
              f'({100 * precision:.1f}%) | {r["false_alarms_per_hour"]:.1f} |')
    print(f'\nmost episodes caught by their own raise with validation precision >= {args.min_precision:g}, at the highest such threshold: '
          f'{"none" if chosen is None else f"{chosen:g}"} (the params file has {base.alarm.threshold:g})')
    t = base.alarm.threshold
    if t in evaluators:
        missed = reports[t]['missed_episodes']
        print(f'the {len(missed)} episodes missed at {t:g}: ' + ', '.join(
            f'{reason} {n}' for reason, n in why_missed(missed, won, t).most_common()))
        # those whose label did win over the threshold: the policy's last raise of that label before them
        for ep in missed:
            if why(ep, won, t) == 'its label won, over the threshold':
                before = [s - T0 for c, s, label in evaluators[t].raised
                          if c == ep['camera'] and label == ep['label'] and s < T0 + ep['start_s']]
                print(f"  {ep['camera']} {ep['label']} {ep['start_s']:g}-{ep['end_s']:g} s: last {ep['label']} alarm "
                      + (f'raised at {max(before):.1f} s' if before else 'raised: none before it'))
    if by_cooldown:
        print(f'\nat score_threshold {base.alarm.threshold:g}, by cooldown_s (the params file has {base.alarm.cooldown_s:g}):')
        print('| cooldown_s | alarm recall | held | alarm precision | false alarms / h | repeats |')
        print('|---|---|---|---|---|---|')
        for c, ev in sorted(by_cooldown.items()):
            r = ev.report()
            eps, raised, false = r['alarm_episodes'], r['alarms_raised'], len(r['false_alarms'])
            caught = eps - len(r['missed_episodes'])
            print(f'| {c:g} | {caught}/{eps} ({100 * caught / max(1, eps):.1f}%) | {r["alarm_episodes_held"]} | '
                  f'{raised - false}/{raised} ({100 * (raised - false) / max(1, raised):.1f}%) | '
                  f'{r["false_alarms_per_hour"]:.1f} | {repeats(ev)} |')


if __name__ == '__main__':
    main()
