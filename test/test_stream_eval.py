"""The offline streaming evaluation plays a scenario through the node's clip buffer, model and alarm policy."""
import json

import pytest

from conftest import make_checkpoint
from depth_action_recognition import stream_eval
from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.engine import InferenceEngine
from depth_action_recognition.evaluation import OnlineEvaluator
from depth_action_recognition.preprocess import PreprocessSpec
from depth_action_recognition.synthetic import ALARM_LABELS, LABELS

PARAMS = {'stride': 5, 'smooth_clips': 1, 'score_threshold': 0.6, 'alarm_k': 2, 'alarm_n': 3, 'clear_after_s': 3.0, 'cooldown_s': 10.0}


def biased(tmp_path, label):
    path = make_checkpoint(tmp_path / f'{label}.safetensors', labels=LABELS, alarms=ALARM_LABELS, bias_label=label,
                           spec=PreprocessSpec(height=24, width=32, frames=8, fps=10.0, crop='pad'))
    loaded = load_checkpoint(path)
    return loaded, InferenceEngine(loaded, 'cpu', flip_average=False)


def play(loaded, engine, seed=3, minutes=1.0):
    ev = OnlineEvaluator()
    run = stream_eval.play(loaded, engine, PARAMS, seed=seed, minutes=minutes, size=(30, 40), subjects=[31, 32],
                           views=[0], evaluator=ev)
    return ev, ev.report(), run


def test_clips_follow_the_sampler_and_every_clip_is_one_event(tmp_path):
    loaded, engine = biased(tmp_path, 'walking')
    ev, r, run = play(loaded, engine)
    # 60 s at 30 fps sampled at 10 fps: the first clip after 8 frames, then one per 5 sampled frames
    assert run['frames'] == 1800 and run['clips'] == (600 - 8) // 5 + 1
    assert r['events'] == run['clips'] == r['windows']
    assert all(abs(e['window']['end'] - e['window']['start'] - 0.7) < 0.02 for e in ev.events)
    truth = [ev._truth(e['camera'], e['window']['start'], e['window']['end'])[0] for e in ev.events]
    assert r['accuracy_all'] == pytest.approx(truth.count('walking') / len(truth))
    assert r['alarms_raised'] == 0 and run['subject'] in (31, 32) and run['view'] == 0
    # the run's own figures: one stream, so the pooled ones
    assert (run['windows_pure'], run['top1_pure']) == (r['windows_pure'], r['top1_pure'])
    assert (run['alarm_episodes'], run['missed']) == (r['alarm_episodes'], len(r['missed_episodes'])) != (0, 0)


def test_an_alarm_label_the_model_always_says_is_raised_once_and_never_cleared(tmp_path):
    loaded, engine = biased(tmp_path, 'falling_down')
    ev, r, _ = play(loaded, engine)
    assert r['alarms_raised'] == 1                       # k of n at the second clip, then held: no cooldown re-raise
    assert not any(doc for doc in ev.raised if doc[2] != 'falling_down')


def test_same_seed_same_report_and_the_cli_writes_it(tmp_path, capsys):
    loaded, engine = biased(tmp_path, 'waving')
    a, b = play(loaded, engine, seed=5, minutes=0.5)[1], play(loaded, engine, seed=5, minutes=0.5)[1]
    assert a == b
    out = tmp_path / 'r.json'
    assert stream_eval.main(['--model', str(loaded.path), '--minutes', '0.3', '--seeds', '1', '2', '--size', '30x40',
                             '--report-json', str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r['seed'] for r in report['runs']] == [1, 2] and report['size'] == [30, 40]
    assert sum(r['windows_pure'] for r in report['runs']) == report['windows_pure']     # each run on its own
    assert sum(r['missed'] for r in report['runs']) == len(report['missed_episodes'])
    assert report['device'] == 'cpu'                     # the device that ran it (--device cpu, the default)
    out = capsys.readouterr().out
    assert 'top-1, windows inside one action' in out and 'seed 2: subject' in out
    assert stream_eval.main(['--model', str(tmp_path / 'missing.safetensors')]) == 2


def test_held_out_partners_stay_in_the_split(tmp_path):
    """``--partners split``: every scene's second person is one of ``--subjects``, and the report says so."""
    from depth_action_recognition.synthetic.stream import ScenarioCamera
    cam = ScenarioCamera([('pushing', 3.0), ('kicking', 3.0), ('punching', 3.0)] * 4, seed=9, subject=31, view=0,
                         loop=False, partners=[31, 32])
    cam.segment_at(cam.period - 1e-6)
    assert [cam.scene(k).partner for k in range(12)] == [32] * 12
    # the scenario stream_eval plays: second persons from the split with 'split', from anyone with 'any'
    seen = {}
    for partners in ('split', 'any'):
        cam = stream_eval.scenario(4, 3.0, (30, 40), [31, 32, 33], [0], partners=partners)
        cam.segment_at(3 * 60 - 1e-6)
        seen[partners] = {cam.scene(k).partner for k in range(len(cam.segments))} - {None}
    assert seen['split'] and seen['split'] <= {31, 32, 33} and not seen['any'] <= {31, 32, 33}
    loaded, _ = biased(tmp_path, 'pushing')
    out = tmp_path / 'r.json'
    assert stream_eval.main(['--model', str(loaded.path), '--minutes', '0.2', '--seeds', '1', '--size', '30x40',
                             '--subjects', '31-32', '--partners', 'split', '--report-json', str(out)]) == 0
    assert json.loads(out.read_text())['partners'] == 'split'
    assert json.loads(out.read_text())['world'] == 5                  # the default round, recorded
    assert stream_eval.main(['--model', str(loaded.path), '--minutes', '0.2', '--seeds', '1', '--size', '30x40',
                             '--world', '4', '--report-json', str(out)]) == 0
    assert json.loads(out.read_text())['world'] == 4
    assert stream_eval.scenario(1, 0.2, (30, 40), [31, 32], [0], world=4).world == 4
    assert stream_eval.main(['--model', str(loaded.path), '--subjects', '33', '--partners', 'split']) == 2


def test_one_recording_scored_with_two_thresholds(tmp_path):
    """record once, score with each setting: the threshold alone decides whether the same clips raise an alarm."""
    loaded, engine = biased(tmp_path, 'falling_down')
    settings = stream_eval.node_settings(PARAMS, loaded)
    cam = stream_eval.scenario(3, 0.5, (30, 40), [31, 32], [0])
    rec = stream_eval.record(loaded, engine, settings, cam, minutes=0.5)
    assert len(rec.clips) == len(rec.probs) == (300 - 8) // 5 + 1 and rec.truth[0][1] == cam.label_at(0.0)
    top = float(rec.probs[:, LABELS.index('falling_down')].min())
    reports = []
    for threshold in (top - 0.05, min(1.0, top + 0.05)):
        ev = OnlineEvaluator()
        stream_eval.score(rec, LABELS, stream_eval.node_settings({**PARAMS, 'score_threshold': threshold}, loaded), ev)
        reports.append(ev.report())
    assert reports[0]['alarms_raised'] == 1 and reports[1]['alarms_raised'] == 0
    assert reports[0]['events'] == reports[1]['events'] == len(rec.clips)
    with pytest.raises(ValueError, match='stride'):       # other clips than the recording's: refused
        stream_eval.score(rec, LABELS, stream_eval.node_settings({**PARAMS, 'stride': 3}, loaded), OnlineEvaluator())


def test_a_missed_episode_is_told_by_what_won_the_clips_inside_it(monkeypatch):
    """bench/alarm_threshold.py's account of a missed episode: which label won the mean of the clips inside it."""
    from pathlib import Path
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / 'bench'))
    from alarm_threshold import why_missed
    T0 = stream_eval.T0
    won = {'/c': [(T0 + 1.0, T0 + 2.6, 'walking', 0.9), (T0 + 1.5, T0 + 3.1, 'kicking', 0.5),
                  (T0 + 6.0, T0 + 7.6, 'walking', 0.8), (T0 + 11.0, T0 + 12.6, 'pushing', 0.7)]}
    episodes = [{'camera': '/c', 'label': 'kicking', 'start_s': 1.0, 'end_s': 3.2},    # its label, at 0.5
                {'camera': '/c', 'label': 'falling_down', 'start_s': 5.5, 'end_s': 8.0},  # walking won
                {'camera': '/c', 'label': 'pushing', 'start_s': 10.5, 'end_s': 13.0},     # won at 0.7: held back
                {'camera': '/c', 'label': 'punching', 'start_s': 20.0, 'end_s': 21.0}]    # too short for a clip
    assert why_missed(episodes, won, 0.6) == {'its label won, under the threshold': 1,
                                              'another label won every clip': 1,
                                              'its label won, over the threshold': 1, 'no clip inside it': 1}


def test_repeats_count_second_raises_of_one_episode_only(monkeypatch):
    """bench/alarm_threshold.py's repeats: a raise of an episode's label after one already caught that episode."""
    from pathlib import Path
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / 'bench'))
    from alarm_threshold import repeats
    ev = OnlineEvaluator()
    for i in range(200):                         # a fall 5-9 s, a push 12-15 s, walking between, 10 Hz
        t = i / 10
        label = 'falling_down' if 5 <= t < 9 else 'pushing' if 12 <= t < 15 else 'walking'
        ev.add_ground_truth({'camera': '/c', 'stamp': {'sec': int(t), 'nanosec': int(round(t % 1 * 1e9))},
                             'label': label, 'alarm': label != 'walking'})
    for t, label in ((5.5, 'falling_down'), (7.0, 'falling_down'), (9.5, 'falling_down'),   # two repeats
                     (12.5, 'pushing'), (13.0, 'kicking'), (17.0, 'pushing')):              # none: other label, late
        ev.add_alarm({'camera': '/c', 'stamp': {'sec': int(t), 'nanosec': int(round(t % 1 * 1e9))}, 'label': label,
                      'state': 'raised'})
    assert ev.tolerance_s == 1.0 and repeats(ev) == 2


def test_a_bad_smoothing_is_named_and_evaluators_of_one_camera_are_not_merged(tmp_path):
    from depth_action_recognition.errors import ConfigError
    loaded, _ = biased(tmp_path, 'waving')
    with pytest.raises(ConfigError, match="'smooth_clips'"):
        stream_eval.node_settings({**PARAMS, 'smooth_clips': 0}, loaded)
    a, b = OnlineEvaluator(), OnlineEvaluator()
    for ev in (a, b):
        ev.add_ground_truth({'camera': '/c', 'stamp': {'sec': 1, 'nanosec': 0}, 'label': 'waving', 'alarm': False})
    with pytest.raises(ValueError, match='/c'):
        a.extend(b)


def test_runs_without_ros(tmp_path):
    """The offline evaluation is the ROS-free core's (GPU machines and training hosts have no rclpy): with every
    ROS package refused at import, it still reads the node's parameter table and scores a scenario."""
    import subprocess
    import sys
    path = make_checkpoint(tmp_path / 'm.safetensors', labels=LABELS, alarms=ALARM_LABELS,
                           spec=PreprocessSpec(height=24, width=32, frames=8, fps=10.0, crop='pad'))
    code = f"""
import sys
class NoRos:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('rclpy', 'rcl_interfaces', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs'):
            raise ImportError('ROS refused: ' + name)
sys.meta_path.insert(0, NoRos())
from depth_action_recognition import stream_eval
sys.exit(stream_eval.main(['--model', {str(path)!r}, '--minutes', '0.2', '--seeds', '1', '--size', '30x40',
                           '--report-json', {str(tmp_path / 'r.json')!r}]))
"""
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((tmp_path / 'r.json').read_text())['windows'] > 0
