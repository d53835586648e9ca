"""The experiment's bookkeeping: tuned knobs chosen on validation only, the table and the verdict from the CSV."""
import json
import os
from pathlib import Path

import pytest

from training import experiment


def row(method, seed, split, top1, pc=20, student='tiny', **knobs):
    base = {k: '' for k in experiment.COLUMNS}
    base.update({'method': method, 'student': student, 'paired_per_class': str(pc), 'seed': str(seed), 'split': split,
                 'top1': str(top1), 'gflops': '0.5', 'step_ms': '300'})
    base.update({k: str(v) for k, v in knobs.items()})
    return base


def test_tuning_picks_the_best_mean_validation_score_and_ignores_test_splits():
    rows = []
    for seed, (a, b) in enumerate(((0.50, 0.40), (0.52, 0.46))):
        rows.append(row('kd', seed, 'val', a, temperature=2.0, w_kd=1.0))
        rows.append(row('kd', seed, 'val', b, temperature=4.0, w_kd=1.0))
        # a test split that favours the other configuration must not count
        rows.append(row('kd', seed, 'cross_subject', 0.9, temperature=4.0, w_kd=1.0))
        rows.append(row('kd', seed, 'cross_subject', 0.1, temperature=2.0, w_kd=1.0))
    assert experiment.best_knobs(rows, 'kd') == {'temperature': 2.0, 'w_kd': 1.0}
    with pytest.raises(SystemExit):
        experiment.best_knobs(rows, 'feat')


def test_table_and_verdict_from_rows():
    rows = []
    for seed, (kd, mix) in enumerate(((0.60, 0.70), (0.62, 0.71), (0.64, 0.72))):
        for split in ('cross_subject', 'cross_view'):
            rows.append(row('kd', seed, split, kd))
            rows.append(row('mix', seed, split, mix if split == 'cross_subject' else kd + 0.005))
    text = experiment.table(rows)
    assert '| 20 | tiny (0.50) | kd | 62.0 ± 2.0 | 62.0 ± 2.0 | 300 | 3 |' in text
    assert '| 20 | tiny (0.50) | mix | 71.0 ± 1.0 |' in text
    verdict = experiment.verdict(rows).splitlines()
    assert verdict[0].startswith('20 / tiny / cross_subject: mix beats kd (+9.0 points')
    assert verdict[1].startswith('20 / tiny / cross_view: mix ties kd (+0.5 points')


def _first_run_is_slowest(args, job):
    import time
    time.sleep(1.0 if job[3] == 0 else 0.0)
    return {'seed': job[3], 'pid': os.getpid()}


def test_side_by_side_runs_come_back_in_job_order():
    """--jobs N: the runs go to N spawned processes and finish in any order (here the first one last); the
    rows must still follow the jobs, and more than one process must have done the work."""
    import argparse
    jobs = [('kd', 'tiny', 20, k, {}, None) for k in range(6)]
    try:
        got = list(experiment.run_all(argparse.Namespace(jobs=2), jobs, fn=_first_run_is_slowest))
    finally:
        for pool in experiment._POOL:
            pool.shutdown()
        experiment._POOL.clear()
    assert [m['seed'] for m in got] == list(range(6))
    assert len({m['pid'] for m in got}) == 2 and os.getpid() not in {m['pid'] for m in got}


def test_flags_prints_the_tuned_knobs_as_distill_flags(tmp_path, capsys):
    rows = [row('mix', 10, 'val', 0.4, direction='s2t', stage='stage3', alpha=1.0, temperature=4.0, w_kd=1.0, w_mix=1.0),
            row('mix', 10, 'val', 0.5, direction='t2s', stage='stage2', alpha=0.4, temperature=4.0, w_kd=2.0, w_mix=1.0)]
    path = tmp_path / 'tune.csv'
    experiment.write_csv(path, rows)
    assert experiment.main(['flags', '--tuned', str(path), '--method', 'mix']) == 0
    flags = capsys.readouterr().out.split()
    assert dict(zip(flags[::2], flags[1::2])) == {'--direction': 't2s', '--stage': 'stage2', '--alpha': '0.4',
                                                  '--temperature': '4.0', '--w-kd': '2.0', '--w-mix': '1.0'}


def test_a_finished_run_is_reused_only_for_the_same_command(tmp_path):
    import argparse
    import json
    from depth_action_recognition.synthetic.dataset import write_dataset
    data = tmp_path / 'data'             # clips of the student's 16 frames: the experiment trains at the defaults
    write_dataset(data, clips_per_class=3, subjects=[1, 2, 31], views=[0, 4], frames=16, size=(30, 40), seed=3)
    args = argparse.Namespace(data=[data], val_data=data, device='cpu', epochs=1, epochs_full=1)
    out = tmp_path / 'run'
    first = experiment.run_one(args, 'none', 'tiny', 2, 0, {}, out)
    made = (out / 'metrics.json').stat().st_mtime_ns
    assert experiment.run_one(args, 'none', 'tiny', 2, 0, {}, out) == first
    assert (out / 'metrics.json').stat().st_mtime_ns == made                  # the same command: not trained again
    args.epochs = 2
    second = experiment.run_one(args, 'none', 'tiny', 2, 0, {}, out)          # another setting: trained anew
    assert first['timings']['epochs'] == 1 and second['timings']['epochs'] == 2
    made_by = json.loads((out / 'experiment_argv.json').read_text())
    assert made_by[made_by.index('--epochs') + 1] == '2'


def test_the_recorded_command_names_every_file_absolutely(tmp_path, monkeypatch):
    """The teacher, its cache, the data and the run folder named relative to two working directories give one
    command: a run is not trained again because it was started from another directory."""
    import argparse
    (tmp_path / 'sub').mkdir()
    made = []
    for cwd, prefix in ((tmp_path, ''), (tmp_path / 'sub', '../')):
        monkeypatch.chdir(cwd)
        args = argparse.Namespace(data=[Path(prefix + 'data')], val_data=Path(prefix + 'val'), device='cpu', epochs=1,
                                  epochs_full=1, teacher_checkpoint=prefix + 'runs/t/teacher.safetensors',
                                  teacher_cache=Path(prefix + 'runs/cache.safetensors'))
        made.append(experiment.distill_argv(args, 'mix', 'tiny', 2, 0, {'w_mix': 1.0}, Path(prefix + 'runs/x')))
    assert made[0] == made[1]
    root = tmp_path.resolve()
    teacher = made[0][made[0].index('--teacher-checkpoint') + 1]
    assert teacher == str(root / 'runs/t/teacher.safetensors')
    assert made[0][made[0].index('--teacher-cache') + 1] == str(root / 'runs/cache.safetensors')
    # a record from before (teacher paths as given, from the repository root) is the same command
    monkeypatch.chdir(tmp_path)
    old = [v if i == 0 or made[0][i - 1] not in ('--teacher-checkpoint', '--teacher-cache')
           else str(Path(v).relative_to(root)) for i, v in enumerate(made[0])]
    assert old != made[0]
    (tmp_path / 'argv.json').write_text(json.dumps(old))
    assert experiment._recorded(tmp_path / 'argv.json') == made[0]
