"""Compare two folders of stream_eval JSON reports of the same settings, e.g. the model on CUDA and on the CPU.

    python3 bench/compare_reports.py DIR_A DIR_B [--a-device cuda] [--b-device cpu]

bench/stream_accuracy.py names a report ``<setting>.json`` when the model ran on the CPU and
``<setting>_<device>.json`` otherwise. Each report of DIR_A's device is paired with the report of the same
setting and DIR_B's device in DIR_B (either folder may hold other reports too). A report that records the
device it ran on (``device``) must have run on the one its name says. Prints, per pair, every summary figure
and class that differs; exits 1 if any pair differs, a report has no partner, or a device is not the one named.
"""
import argparse
import json
import sys
from pathlib import Path

from common import report_setting

FIGURES = ('windows', 'windows_pure', 'top1_pure', 'accuracy_all', 'alarm_episodes', 'alarms_raised',
           'false_alarms', 'missed_episodes', 'per_class', 'params')     # params: the recognizer's, when recorded

def reports(folder: Path, device: str) -> dict:
    """{setting: report} of the reports in ``folder`` named for ``device``."""
    out = {}
    for f in sorted(folder.glob('*.json')):
        setting, dev = report_setting(f.stem)
        if dev == device:
            out[setting] = json.loads(f.read_text())
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('dir_a', type=Path)
    p.add_argument('dir_b', type=Path)
    p.add_argument('--a-device', default='cuda', choices=('cpu', 'cuda', 'auto'))
    p.add_argument('--b-device', default='cpu', choices=('cpu', 'cuda', 'auto'))
    args = p.parse_args(argv)
    a, b = reports(args.dir_a, args.a_device), reports(args.dir_b, args.b_device)
    if not a:
        p.error(f'no {args.a_device} reports in {args.dir_a}')
    bad = 0
    for name in sorted(a):
        if name not in b:
            print(f'{name}: no {args.b_device} report of this setting in {args.dir_b}')
            bad += 1
            continue
        ran = [(r.get('device') or want, want) for r, want in ((a[name], args.a_device), (b[name], args.b_device))]
        wrong = [f'ran on {got}, named {want}' for got, want in ran if want != 'auto' and not got.startswith(want)]
        diff = [k for k in FIGURES if a[name].get(k) != b[name].get(k)
                and (k != 'params' or k in a[name] and k in b[name])]     # older reports record no params
        if a[name].get('partners', 'any') != b[name].get('partners', 'any'):    # none recorded: 'any'
            diff.append('partners')
        # a report that records no round is of round 4 or, for a few commits, of round 5: not comparable
        wa, wb = a[name].get('world'), b[name].get('world')
        if wa != wb:
            diff.append('world' if wa is not None and wb is not None else 'world (recorded in one report only)')
        if wrong or diff:
            pa, pb = a[name].get('per_class', {}), b[name].get('per_class', {})
            classes = sorted(c for c in pa.keys() | pb.keys() if pa.get(c) != pb.get(c))
            print(f'{name}: ' + '; '.join(wrong + ([f'differs in {", ".join(diff)}'] if diff else []))
                  + (f' (classes {", ".join(classes)})' if classes else ''))
            bad += 1
        else:
            print(f'{name}: same on {ran[0][0]} and {ran[1][0]} ({100 * a[name]["top1_pure"]:.1f}% inside one '
                  f'action, {a[name]["alarms_raised"]} alarms)')
    print(f'{len(a.keys() & b.keys())} pairs, {bad} differ, unpaired or on another device')
    return 1 if bad else 0


if __name__ == '__main__':
    raise SystemExit(main())
