"""Online evaluation arithmetic: clip accuracy by majority label, alarm episodes, recall, precision, and
the false alarms and missed episodes it lists so that a figure can be traced back to the scenario."""
from depth_action_recognition.evaluation import OnlineEvaluator, format_report

CAM = '/cam/depth'


def stamp(t: float) -> dict:
    return {'sec': int(t), 'nanosec': int(round((t - int(t)) * 1e9))}


def scenario(ev: OnlineEvaluator, t0: float, segments) -> None:
    """Ground truth at 10 Hz: segments of (label, seconds, alarm)."""
    t = t0
    for label, seconds, alarm in segments:
        for _ in range(int(seconds * 10)):
            ev.add_ground_truth({'camera': CAM, 'stamp': stamp(t), 'label': label, 'alarm': alarm})
            t += 0.1


def test_recall_precision_and_what_they_are_made_of():
    ev = OnlineEvaluator()
    t0 = 1000.0
    scenario(ev, t0, [('walking', 5, False), ('falling_down', 4, True), ('walking', 5, False),
                      ('punching', 3, True), ('waving', 5, False)])
    # the fall (5-9 s) is caught 1.5 s in; the punch (14-17 s) is missed; a kick at 20 s is a false alarm;
    # an alarm 0.5 s after the fall ended is still the fall's
    for t, label in ((6.5, 'falling_down'), (9.4, 'falling_down'), (20.0, 'kicking')):
        ev.add_alarm({'camera': CAM, 'stamp': stamp(t0 + t), 'label': label, 'state': 'raised'})
    ev.add_alarm({'camera': CAM, 'stamp': stamp(t0 + 12), 'label': 'falling_down', 'state': 'cleared'})
    ev.add_alarm({'camera': '/other', 'stamp': stamp(t0 + 15), 'label': 'punching', 'state': 'raised'})
    # events: a window inside the fall labelled right, one over mostly walking labelled wrong
    ev.add_event({'camera': CAM, 'label': 'falling_down', 'window': {'start': t0 + 5.5, 'end': t0 + 7.0}})
    ev.add_event({'camera': CAM, 'label': 'waving', 'window': {'start': t0 + 0.5, 'end': t0 + 2.0}})
    ev.add_event({'camera': '/unknown', 'label': 'waving', 'window': {'start': t0, 'end': t0 + 1}})
    r = ev.report()
    assert r['alarm_episodes'] == 2 and r['alarm_recall'] == 0.5
    assert r['alarms_raised'] == 4 and r['alarm_precision'] == 0.5      # the other camera's alarm matches nothing
    assert [(a['label'], a['t_s']) for a in r['false_alarms']] == [('kicking', 20.0), ('punching', 15.0)]
    assert [(e['label'], e['start_s'], e['end_s']) for e in r['missed_episodes']] == [('punching', 14.0, 16.9)]
    assert r['events_judged'] == 2 and r['clip_accuracy'] == 0.5
    assert r['per_class_accuracy'] == {'falling_down': 1.0, 'walking': 0.0}
    text = format_report(r)
    assert 'false alarm   kicking at 20.0 s on /cam/depth' in text
    assert 'missed        punching 14.0-16.9 s on /cam/depth' in text


def test_nothing_to_score_is_not_a_number():
    r = OnlineEvaluator().report()
    assert r['clip_accuracy'] is None and r['alarm_recall'] is None and r['alarm_precision'] is None
    assert r['false_alarms'] == [] and r['missed_episodes'] == []
    assert 'n/a' in format_report(r)
