#!/usr/bin/env python3
"""How often a gloo rank aborts at exit ("terminate called without an active exception", SIGABRT) when one rank
finishes before the other, with a bare destroy_process_group() and with training.distill's leave_process_group().

    .venv/bin/python bench/ddp_teardown.py --runs 12    # 2 x 12 two-process torchrun launches, a few seconds each

Each launch trains a small DistributedDataParallel model on two CPU ranks; rank 1 is done at once while rank 0
works a second longer, as distill's rank 0 evaluates and saves after the last epoch. Prints, per way of leaving,
the launches that ended well, aborted, failed otherwise or hung. A chance event: compare the counts of one run.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RANK = '''
import sys, time
import torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from training.distill import leave_process_group
dist.init_process_group('gloo')
def work():
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    model = DistributedDataParallel(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        loss = model(torch.randn(8, 64)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    if dist.get_rank() == 0:
        time.sleep(1.0)
work()
if sys.argv[1] == 'bare':
    dist.destroy_process_group()
else:
    leave_process_group(wait=True)
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def launch(script: Path, way: str) -> str:
    """'ok', 'aborted' (a rank died of "terminate called"), 'failed' (otherwise: its stderr's end is printed) or
    'hung' (over 2 minutes: torchrun and its ranks are killed, so that they do not slow the launches after it)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr',
                          '127.0.0.1', '--master_port', str(free_port()), str(script), way],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                         start_new_session=True)
    try:
        _, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:                     # it ended between the timeout and the kill
            pass
        p.communicate()
        return 'hung'
    if p.returncode == 0:
        return 'ok'
    if 'terminate called' in err:
        return 'aborted'
    print(f'{way}: failed ({p.returncode}):\n' + '\n'.join(err.splitlines()[-5:]), file=sys.stderr)
    return 'failed'


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--runs', type=int, default=12, help='launches per way of leaving')
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / 'rank.py'
        script.write_text(RANK)
        t0, broken = time.time(), 0
        for way in ('bare', 'leave_process_group'):
            results = Counter(launch(script, way) for _ in range(args.runs))
            print(f'{way:20s} of {args.runs} launches: ' + ', '.join(f'{k} {results[k]}' for k in
                                                                      ('ok', 'aborted', 'failed', 'hung')), flush=True)
            broken += results['failed'] + results['hung']
    print(f'{time.time() - t0:.0f} s')
    return 1 if broken else 0          # a launch that failed otherwise or hung says nothing of the abort


if __name__ == '__main__':
    sys.exit(main())
