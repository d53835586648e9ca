"""The published train/test protocols of the real datasets, in one mapping (``--benchmark NAME``).

A source may name the protocol a run uses when none is given (``source.benchmark``: NW-UCLA's
cross-view split); the subject/view flags are the synthetic world's.
"""
from __future__ import annotations

from training.errors import DataError
from training.folder import nwucla_split
from training.ntu import official_split

BENCHMARKS = {
    'ntu60-xsub': 'NTU RGB+D 60 cross-subject: the 20 listed performers train, the other 20 test',
    'ntu60-xview': 'NTU RGB+D 60 cross-view: cameras 2 and 3 train, camera 1 tests',
    'ntu120-xsub': 'NTU RGB+D 120 cross-subject: the 53 listed performers train, the others test',
    'ntu120-xset': 'NTU RGB+D 120 cross-setup: even setups train, odd setups test',
    'nwucla': 'NW-UCLA cross-view: views 1 and 2 train, view 3 tests (the default for NW-UCLA data)',
}


def benchmark_help() -> str:
    return 'official train/test split (replaces the subject/view flags): ' + '; '.join(
        f'{k}: {v}' for k, v in BENCHMARKS.items())


def split_of(record: dict, benchmark: str) -> str:
    """'train' or 'test' of one record under a protocol of BENCHMARKS."""
    if benchmark == 'nwucla':
        return nwucla_split(record)
    if benchmark in BENCHMARKS:
        return official_split(record, benchmark)
    raise DataError(f'unknown benchmark {benchmark!r} (one of {", ".join(BENCHMARKS)})')


def benchmark_indices(records: list, benchmark: str) -> tuple:
    """(train indices, test indices) of ``records`` under a protocol."""
    sides = [split_of(r, benchmark) for r in records]
    return [i for i, s in enumerate(sides) if s == 'train'], [i for i, s in enumerate(sides) if s == 'test']
