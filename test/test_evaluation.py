"""Scoring arithmetic: windows inside one action and all windows, per class, alarm episodes matched by label,
and the false alarms and missed episodes it lists so that a figure can be traced back to the scenario."""
import pytest

from depth_action_recognition.evaluation import OnlineEvaluator, earliest_alarm_s, format_report

CAM = '/cam/depth'


def stamp(t: float) -> dict:
    return {'sec': int(t), 'nanosec': int(round((t - int(t)) * 1e9))}


def scenario(ev: OnlineEvaluator, t0: float, segments) -> None:
    """Ground truth at 10 Hz: segments of (label, seconds, alarm)."""
    t = t0
    for label, seconds, alarm in segments:
        for _ in range(int(round(seconds * 10))):
            ev.add_ground_truth({'camera': CAM, 'stamp': stamp(t), 'label': label, 'alarm': alarm})
            t += 0.1


def event(ev, t0, start, end, label, camera=CAM):
    ev.add_event({'camera': camera, 'label': label, 'window': {'start': t0 + start, 'end': t0 + end}})


def alarm(ev, t0, t, label, state='raised', camera=CAM):
    ev.add_alarm({'camera': camera, 'stamp': stamp(t0 + t), 'label': label, 'state': state})


def test_recall_precision_with_labels_matched_and_what_they_are_made_of():
    ev = OnlineEvaluator()
    t0 = 1000.0
    scenario(ev, t0, [('walking', 5, False), ('falling_down', 4, True), ('walking', 5, False),
                      ('punching', 3, True), ('waving', 5, False), ('staggering', 3, True), ('walking', 2, False)])
    # the fall (5-9 s) is caught 1.5 s in, and again 0.4 s after it ended (still the fall's); the punch
    # (14-17 s) is called a kick: a false alarm, and the punch is missed; the staggering (22-25 s) is caught
    # once right and once as a fall; a punch on another camera matches nothing
    for t, label in ((6.5, 'falling_down'), (9.4, 'falling_down'), (15.0, 'kicking'), (23.0, 'staggering'),
                     (23.5, 'falling_down')):
        alarm(ev, t0, t, label)
    alarm(ev, t0, 12, 'falling_down', state='cleared')
    alarm(ev, t0, 15, 'punching', camera='/other')
    r = ev.report()
    assert r['alarm_episodes'] == 3 and r['alarm_recall'] == pytest.approx(2 / 3)
    assert r['alarms_raised'] == 6 and r['alarm_precision'] == pytest.approx(3 / 6)
    assert sorted((a['label'], a['t_s']) for a in r['false_alarms']) == \
        [('falling_down', 23.5), ('kicking', 15.0), ('punching', 15.0)]
    assert [(e['label'], e['start_s'], e['end_s']) for e in r['missed_episodes']] == [('punching', 14.0, 16.9)]
    assert r['hours'] == pytest.approx(26.9 / 3600) and r['false_alarms_per_hour'] == pytest.approx(3 / r['hours'])
    text = format_report(r)
    assert 'false alarm   kicking at 15.0 s on /cam/depth' in text
    assert 'missed        punching 14.0-16.9 s on /cam/depth' in text


def test_an_episode_cut_off_by_the_end_of_the_stream_too_early_to_raise_is_not_scored():
    detect = earliest_alarm_s(16, 10.0, 5, 2)
    assert detect == pytest.approx(0.75 + 0.5)          # half a 1.5 s window, then one more clip 5 frames on
    for tail, scored in ((1.0, False), (2.0, True)):
        ev = OnlineEvaluator(detect_s=detect)
        t0 = 300.0
        # a fall caught, then a fall the stream ends during: 1.0 s of it cannot be raised, 2.0 s can
        scenario(ev, t0, [('walking', 5, False), ('falling_down', 4, True), ('walking', 5, False),
                          ('falling_down', tail, True)])
        alarm(ev, t0, 6.5, 'falling_down')
        alarm(ev, t0, 11.0, 'falling_down', state='cleared')
        r = ev.report()
        assert r['alarm_episodes'] == (2 if scored else 1)
        assert r['alarm_recall'] == pytest.approx(0.5 if scored else 1.0)
        assert len(r['missed_episodes']) == int(scored) and len(r['cut_off_episodes']) == int(not scored)
        assert ('not scored    falling_down 14.0' in format_report(r)) != scored
    # without the rule (detect_s 0) such an episode counts as missed
    ev = OnlineEvaluator()
    scenario(ev, 0.0, [('walking', 2, False), ('falling_down', 0.3, True)])
    assert ev.report()['alarm_recall'] == 0.0


def test_an_episode_under_an_alarm_of_its_label_still_up_is_held_and_one_in_the_cooldown_is_missed():
    detect = earliest_alarm_s(16, 10.0, 5, 2)                      # 1.25 s
    for cleared_at, held in ((15.0, True), (12.0, False), (12.3, True)):
        ev = OnlineEvaluator(detect_s=detect)
        t0 = 40.0
        # falls at 5-9, 11-14 and 20-23 s; one alarm raised at 6.5 s and cleared at cleared_at; nothing more
        # raised (the cooldown): the second fall is held while the alarm is up 1.25 s into it (12.25 s),
        # the third is missed
        scenario(ev, t0, [('walking', 5, False), ('falling_down', 4, True), ('walking', 2, False),
                          ('falling_down', 3, True), ('walking', 6, False), ('falling_down', 3, True),
                          ('walking', 3, False)])
        alarm(ev, t0, 6.5, 'falling_down')
        alarm(ev, t0, 6.7, 'kicking')                                 # another label's alarm holds nothing
        alarm(ev, t0, cleared_at, 'falling_down', state='cleared')
        r = ev.report()
        assert r['alarm_episodes'] == 3 and r['alarm_episodes_held'] == int(held)
        assert r['alarm_recall'] == pytest.approx((2 if held else 1) / 3)
        assert [(e['start_s'], e['end_s']) for e in r['held_episodes']] == ([(11.0, 13.9)] if held else [])
        assert [e['start_s'] for e in r['missed_episodes']] == ([20.0] if held else [11.0, 20.0])
        assert ('1 held by an alarm raised before them' in format_report(r)) == held
    # a lost "cleared" holds the next episode of the label only: the third fall is missed, not held too
    ev = OnlineEvaluator(detect_s=detect)
    scenario(ev, 40.0, [('walking', 5, False), ('falling_down', 4, True), ('walking', 2, False),
                        ('falling_down', 3, True), ('walking', 6, False), ('falling_down', 3, True)])
    alarm(ev, 40.0, 6.5, 'falling_down')
    r = ev.report()
    assert [e['start_s'] for e in r['held_episodes']] == [11.0] and [e['start_s'] for e in r['missed_episodes']] == [20.0]
    # an alarm raised before the episode but for none of its label (a false one) holds nothing
    ev = OnlineEvaluator(detect_s=detect)
    scenario(ev, 40.0, [('walking', 5, False), ('falling_down', 4, True), ('walking', 3, False)])
    alarm(ev, 40.0, 2.0, 'falling_down')
    assert ev.report()['alarm_episodes_held'] == 0


def test_windows_inside_one_action_and_all_windows_per_class():
    ev = OnlineEvaluator()
    t0 = 50.0
    scenario(ev, t0, [('walking', 5, False), ('falling_down', 4, True), ('waving', 5, False)])
    event(ev, t0, 0.5, 2.0, 'walking')            # inside walking, right
    event(ev, t0, 2.5, 4.0, 'waving')             # inside walking, wrong
    event(ev, t0, 5.5, 7.0, 'falling_down')       # inside the fall, right
    event(ev, t0, 4.0, 5.5, 'walking')            # straddles: 10 walking, 6 fall frames -> walking; right
    event(ev, t0, 8.2, 9.7, 'waving')             # straddles: 8 fall, 8 waving -> the later, waving; right
    event(ev, t0, 8.0, 9.5, 'waving')             # 10 fall, 6 waving -> falling_down; wrong
    event(ev, t0, 0, 1, 'waving', camera='/unknown')
    r = ev.report()
    assert r['windows'] == 6 and r['windows_pure'] == 3
    assert r['top1_pure'] == pytest.approx(2 / 3) and r['accuracy_all'] == pytest.approx(4 / 6)
    pc = r['per_class']
    assert pc['walking'] == {'pure': 0.5, 'n_pure': 2, 'all': pytest.approx(2 / 3), 'n_all': 3}
    assert pc['falling_down'] == {'pure': 1.0, 'n_pure': 1, 'all': 0.5, 'n_all': 2}
    assert pc['waving'] == {'pure': None, 'n_pure': 0, 'all': 1.0, 'n_all': 1}


def test_nothing_to_score_is_not_a_number():
    r = OnlineEvaluator().report()
    assert r['top1_pure'] is None and r['accuracy_all'] is None
    assert r['alarm_recall'] is None and r['alarm_precision'] is None and r['false_alarms_per_hour'] is None
    assert r['false_alarms'] == [] and r['missed_episodes'] == []
    assert 'n/a' in format_report(r)
