"""Compare two folders of stream_eval JSON reports of the same settings, e.g. the model on CUDA and on the CPU.

    python3 bench/compare_reports.py DIR_A DIR_B

Each report in DIR_A is paired with the report of the same file name in DIR_B, a ``_cuda``/``_auto`` device
suffix ignored (DIR_B may hold other reports too). Prints, per pair, every summary figure and class that
differs; exits 1 if any pair differs or a report of DIR_A has no partner.
"""
import json
import re
import sys
from pathlib import Path

FIGURES = ('windows', 'windows_pure', 'top1_pure', 'accuracy_all', 'alarm_episodes', 'alarms_raised',
           'false_alarms', 'missed_episodes', 'per_class')


def by_setting(folder: Path) -> dict:
    return {re.sub(r'_(cuda|auto)$', '', f.stem): json.loads(f.read_text()) for f in sorted(folder.glob('*.json'))}


def main(argv) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = (by_setting(Path(d)) for d in argv)
    bad = 0
    for name in sorted(a):
        if name not in b:
            print(f'{name}: no report of this setting in {argv[1]}')
            bad += 1
            continue
        diff = [k for k in FIGURES if a[name].get(k) != b[name].get(k)]
        if diff:
            classes = [c for c in a[name]['per_class'] if a[name]['per_class'][c] != b[name]['per_class'].get(c)]
            print(f'{name}: differs in {", ".join(diff)}' + (f' (classes {", ".join(classes)})' if classes else ''))
            bad += 1
        else:
            print(f'{name}: same ({100 * a[name]["top1_pure"]:.1f}% inside one action, '
                  f'{a[name]["alarms_raised"]} alarms)')
    print(f'{len(a.keys() & b.keys())} pairs, {bad} differ or unpaired')
    return 1 if bad else 0


if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1:]))
