#!/usr/bin/env python3
"""Two models on the same streams: what model B gains (or loses) against model A, setting by setting and class by
class, from bench/stream_accuracy.py's JSON reports.

    python3 bench/model_gain.py DIR_A DIR_B      # A's reports in DIR_A, B's in DIR_B (one folder may hold both)

A report's file name starts with its model (``<name>-<8 hex>_``); the rest names the setting (size, split,
minutes, seeds, lens, partners, world, params, device), so each of A's reports is paired with B's report of the
same rest. A pair must have played the same streams: the same windows, alarm episodes, world round, partners and
recognizer parameters, and the same scenarios (seed, performer, view, length); one that did not is named and not
compared (exit 1). Exit 0 when every report of either folder has its partner. A folder holding several models'
reports of one setting needs the model named (--model-a / --model-b). The streams are rendered from their
seeds, so a difference is the models', not chance's draw of scenarios; how far it would carry to other
scenarios is another matter (it is a difference on these windows).

    python3 bench/model_gain.py DIR_A DIR_B --params   # one model under two recognizer configurations

With ``--params`` the pairs are of one model under other recognizer parameters (``bench/stream_accuracy.py
--params-file``): a setting is then named without its ``_p<hash>`` tag, each pair must be of the same model and
of other parameters, and each pair's first lines say which parameters differ.
"""
import argparse
import json
import re
import sys
from pathlib import Path

from common import report_prefix

SAME_STREAMS = ('windows', 'windows_pure', 'alarm_episodes', 'world', 'partners', 'params', 'size', 'streams')


def streams(r: dict):
    """What was played, scenario by scenario: seed, performer, view and frames (None in reports without runs)."""
    runs = r.get('runs')
    return None if runs is None else [(x.get('seed'), x.get('subject'), x.get('view'), x.get('frames')) for x in runs]


PARAMS_TAG = re.compile(r'_p[0-9a-f]{8}(?=(_cuda|_auto)?$)')     # stream_accuracy.py's tag of non-packaged parameters


def reports(folder: Path, model: str | None = None, untagged: bool = False) -> dict:
    """{setting: report} of the stream reports in ``folder`` (of ``model``'s only, when given): the setting is the
    file name with its model's id taken off. A folder of several models' reports, with no ``model`` named, is a
    ValueError: which one is meant cannot be guessed, and pooling two would compare neither."""
    out, models = {}, set()
    for f in sorted(folder.glob('*.json')):
        try:
            r = json.loads(f.read_text())
        except ValueError:                             # not JSON: another file, or a report cut short
            r = None
        if not isinstance(r, dict):
            print(f'model_gain: skipping {f}: not a JSON report', file=sys.stderr)
            continue
        tag = report_prefix(str(r.get('model', '')))
        if 'per_class' not in r or not f.stem.startswith(tag) or model not in (None, r['model']):
            continue
        models.add(r['model'])
        setting = PARAMS_TAG.sub('', f.stem[len(tag):]) if untagged else f.stem[len(tag):]
        if setting in out and out[setting]['model'] == r['model']:     # untagged: two configurations of one
            # setting of one model, which cannot be paired (several models are refused below)
            raise ValueError(f'{folder} holds two reports of {setting} under other parameters: keep one per folder')
        out[setting] = {**r, 'streams': streams(r)}
    if len(models) > 1:
        raise ValueError(f'{folder} holds reports of several models ({", ".join(sorted(models))}): name the model '
                         '(--model-a / --model-b)')
    return out


def pct(x) -> str:
    return 'n/a' if x is None else f'{100 * x:.1f}%'


def episodes(r: dict, key: str) -> set:
    return {(e['camera'], e['label'], e['start_s']) for e in r.get(key, [])}


def tally(r: dict) -> tuple:
    """(windows inside one action right, alarm episodes caught, false alarms) of report ``r``."""
    right = round((r['top1_pure'] or 0.0) * r['windows_pure'])         # top-1 None: no such window
    return right, r['alarm_episodes'] - len(r['missed_episodes']), len(r['false_alarms'])


def compare(setting: str, a: dict, b: dict) -> list:
    """Lines saying what B does on ``setting`` against A."""
    (right_a, caught_a, false_a), (right_b, caught_b, false_b) = tally(a), tally(b)
    pa, pb = a.get('params') or {}, b.get('params') or {}
    changed = ', '.join(f'{k} {pa.get(k)} -> {pb.get(k)}' for k in sorted(pa.keys() | pb.keys()) if pa.get(k) != pb.get(k))
    out = [f'{setting}: {a["model"]} -> {b["model"]}' + (f' (parameters: {changed})' if changed else ''),
           f'  top-1 inside one action {pct(a["top1_pure"])} -> {pct(b["top1_pure"])} ({right_b - right_a:+d} windows) of '
           f'{a["windows_pure"]}; all windows {pct(a["accuracy_all"])} -> {pct(b["accuracy_all"])} of {a["windows"]}',
           f'  alarm episodes caught {caught_a} -> {caught_b} of {a["alarm_episodes"]}; false alarms '
           f'{false_a} -> {false_b}']
    missed_a, missed_b = episodes(a, 'missed_episodes'), episodes(b, 'missed_episodes')
    for label, only in (('missed by B only', missed_b - missed_a), ('missed by A only', missed_a - missed_b)):
        if only:
            out.append(f'  {label}: ' + ', '.join(f'{lab} {t:g} s on {cam}' for cam, lab, t in sorted(only)))
    for c in sorted(a['per_class'].keys() | b['per_class'].keys()):
        pa, pb = a['per_class'].get(c, {}), b['per_class'].get(c, {})
        x, y = pa.get('pure'), pb.get('pure')
        change = '' if x is None or y is None else f'{100 * (y - x):+.1f}'
        out.append(f'    {c:<16} {pct(x):>7} -> {pct(y):>7} {change:>6}   (inside one action, of {pa.get("n_pure", 0)})')
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('dir_a', type=Path)
    p.add_argument('dir_b', type=Path)
    p.add_argument('--model-a', default=None, help="A's model id (name@8 hex) when DIR_A holds several models")
    p.add_argument('--model-b', default=None, help="B's model id when DIR_B holds several models")
    p.add_argument('--params', action='store_true', help='one model under two recognizer configurations')
    args = p.parse_args(argv)
    try:
        a, b = reports(args.dir_a, args.model_a, args.params), reports(args.dir_b, args.model_b, args.params)
    except ValueError as e:
        p.error(str(e))
    if not a:
        p.error(f'no stream reports in {args.dir_a}' + (f' of {args.model_a}' if args.model_a else ''))
    bad, paired = 0, []
    for setting in sorted(a):
        if setting not in b:
            print(f'{setting}: no report of this setting in {args.dir_b}')
            bad += 1
            continue
        ra, rb = a[setting], b[setting]
        if args.params and (ra['model'] != rb['model'] or ra.get('params') == rb.get('params')):
            print(f'{setting}: --params compares one model under other parameters, not '
                  + ('two models' if ra['model'] != rb['model'] else 'the same parameters twice'))
            bad += 1
            continue
        if not args.params and ra['model'] == rb['model']:
            print(f'{setting}: one model ({ra["model"]}) in both folders; name them with --model-a / --model-b')
            bad += 1
            continue
        differ = [k for k in SAME_STREAMS if ra.get(k) != rb.get(k) and not (args.params and k == 'params')]
        for key in ('streams', 'world'):            # not recorded: round 4, or for a few commits round 5
            if ra.get(key) is None or rb.get(key) is None:
                differ = [k for k in differ if k != key] + [f'{key} (not recorded)']
        if differ:
            print(f'{setting}: not the same streams (differs in {", ".join(differ)}); not compared')
            bad += 1
            continue
        print('\n'.join(compare(setting, ra, rb)))
        paired.append(setting)
    for setting in sorted(set(b) - set(a)):
        print(f'{setting}: no report of this setting in {args.dir_a}')
        bad += 1
    if paired:
        pooled = [[sum(x) for x in zip(*(tally(r[s]) for s in paired))] for r in (a, b)]
        n_win = sum(a[s]['windows_pure'] for s in paired)
        n_eps = sum(a[s]['alarm_episodes'] for s in paired)
        print(f'pooled over {len(paired)} settings: windows inside one action right {pooled[0][0]} -> {pooled[1][0]} '
              f'of {n_win}; alarm episodes caught {pooled[0][1]} -> {pooled[1][1]} of {n_eps}; false alarms '
              f'{pooled[0][2]} -> {pooled[1][2]}')
    print(f'{len(paired)} pairs compared, {bad} unpaired or not comparable')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
