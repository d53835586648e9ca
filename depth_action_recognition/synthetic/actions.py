"""The action classes: each a parametric motion program over time.

A program is ``program(t, p, body) -> [Pose, ...]`` (one pose per person; two-person actions return the
actor first). ``t`` is seconds since the action's onset (negative before it), ``p`` holds the clip's
randomised parameters (speed, amplitude, sides, phase, timing noise) drawn by :func:`draw_params`.

Three classes are built around an object in the hand (cup, phone, toothbrush). RGB sees the object's
colour at a glance; depth has to read the small way each object is used — a sip, a scrub, a still hand
at the ear — under a tremor every class shares, with overlapping hand positions. RGB has context that
depth lacks, and depth still has enough to learn the classes, as real depth cameras do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .body import Body, Pose


@dataclass(frozen=True)
class Action:
    name: str
    program: Callable
    alarm: bool = False
    people: int = 1
    obj: Optional[str] = None
    duration: float = 0.0        # one-shot actions: how long the motion takes; 0 = periodic
    hold: bool = False           # one-shot whose end state still is the action (lying after a fall)
    prop: Optional[str] = None   # scene prop the action needs ('chair')


def smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def bump(x):
    """0 -> 1 -> 0 over x in [0, 1]."""
    return np.sin(np.pi * np.clip(x, 0.0, 1.0))


def jitter(t, p, k, amp=0.02):
    """Smooth per-clip timing/position noise: two slow sines with random phases."""
    f1, f2, ph1, ph2 = p['noise'][k]
    return amp * (np.sin(2 * np.pi * f1 * t + ph1) + 0.5 * np.sin(2 * np.pi * f2 * t + ph2))


def _arm_side(b: Body, side: float, dy: float, dz: float, dx: float = 0.0):
    return np.array([side * (b.shoulder_w + 0.05) + dx, b.torso - 0.03 + dy, dz])


def walking(t, p, b):
    v = 1.1 * p['speed']
    f = v / 1.3                                      # steps per second, two steps per cycle
    ph = 2 * np.pi * f * t / 2 + p['phase']
    stride = 0.32 * p['amp']
    fl = np.array([b.hip_w, 0.06 + 0.12 * max(0.0, np.sin(ph)), stride * np.cos(ph)])
    fr = np.array([-b.hip_w, 0.06 + 0.12 * max(0.0, -np.sin(ph)), -stride * np.cos(ph)])
    hl = _arm_side(b, 1, -0.95 * b.arm_length, -0.25 * np.cos(ph) * p['amp'])
    hr = _arm_side(b, -1, -0.95 * b.arm_length, 0.25 * np.cos(ph) * p['amp'])
    return [Pose(z=v * t, pelvis_drop=0.03 + 0.02 * np.cos(2 * ph), spine_pitch=0.08 + jitter(t, p, 0),
                 hand_l=hl, hand_r=hr, foot_l=fl, foot_r=fr)]


def _sit(s, b):
    """Pose along the stand (s=0) -> sit (s=1) path; the seat is behind the person."""
    drop = s * (b.hip_height - 0.50)
    lean = 0.55 * bump(s) + 0.12 * s
    hands = _arm_side(b, 1, -0.8 * b.arm_length + 0.25 * s, 0.25 * s), _arm_side(b, -1, -0.8 * b.arm_length + 0.25 * s, 0.25 * s)
    feet = np.array([b.hip_w, 0.06, 0.08 * s]), np.array([-b.hip_w, 0.06, 0.08 * s])
    return Pose(pelvis_drop=drop, pelvis_back=0.32 * s, spine_pitch=lean, hand_l=hands[0], hand_r=hands[1],
                foot_l=feet[0], foot_r=feet[1])


def sitting_down(t, p, b):
    return [_sit(smooth(t * p['speed'] / 1.3), b)]


def standing_up(t, p, b):
    return [_sit(1 - smooth(t * p['speed'] / 1.3), b)]


def waving(t, p, b):
    up = smooth(t * 2.5)
    f = 2.0 * p['speed']
    hr = np.array([-(b.shoulder_w + 0.15) + 0.13 * p['amp'] * np.sin(2 * np.pi * f * t + p['phase']) * up,
                   b.torso - 0.03 + (-0.9 * b.arm_length) * (1 - up) + 0.45 * up, 0.08])
    return [Pose(hand_r=hr, spine_roll=0.03 * np.sin(2 * np.pi * f * t), spine_pitch=jitter(t, p, 0))]


def clapping(t, p, b):
    f = 2.5 * p['speed']
    sep = 0.055 + 0.12 * p['amp'] * (0.5 + 0.5 * np.cos(2 * np.pi * f * t + p['phase']))
    y = b.torso * 0.72 + jitter(t, p, 1)
    return [Pose(hand_l=np.array([sep, y, 0.32]), hand_r=np.array([-sep, y, 0.32]), spine_pitch=jitter(t, p, 0))]


def picking_up(t, p, b):
    s = bump(t * p['speed'] / 1.8)
    reach = np.array([-0.12, b.torso * (1 - 0.9 * s) - 0.2, 0.25 + 0.45 * s])
    return [Pose(spine_pitch=1.15 * s, pelvis_drop=0.22 * s, pelvis_back=0.1 * s, hand_r=reach,
                 hand_l=_arm_side(b, 1, -0.9 * b.arm_length, 0.1 + 0.2 * s))]


# Where between the mouth (0) and the ear (1) each object is held. The ranges overlap on purpose: a
# phone tends to sit nearer the ear, but where the ranges meet position alone does not tell the classes
# apart, and a cup and a toothbrush share one range.
FACE_SIDE = {'cup': (0.0, 0.7), 'toothbrush': (0.0, 0.7), 'phone': (0.3, 1.0)}


def _hand_to_face(t, p, b, obj: str):
    """The object classes share one program: the right hand rises to somewhere between the mouth and the
    ear (see ``FACE_SIDE``) and stays there with a small tremor, the head tilting a little.

    Each object adds the small motion of its use (world round 4): without it a cup and a toothbrush
    moved identically and only the hand's position told anything, which let even a perfect reader of
    position score 0.48 on the three classes and 0.89 top-1 with every other class right
    (models/MODEL_CARD.md). A sip dips the cup 5-10 cm towards the chest and tips the head back as
    it comes up again, every 1.4-2.5 s; brushing scrubs 2.5-4 cm side to side at 2-3.5 Hz, in the band of
    the 1.5 cm tremor every class has; a phone call holds still. A few centimetres are one or two pixels
    of the 60x80 depth map, so depth must learn them from motion, while RGB sees the object's colour."""
    up = smooth((t - p['lag']) * p['speed'] * 1.8)
    rest = _arm_side(b, -1, -0.85 * b.arm_length, 0.18)
    lo, hi = FACE_SIDE[obj]
    side = lo + (hi - lo) * p['face_side']     # 0 = in front of the mouth, 1 = at the ear
    target = (1 - side) * (b.mouth() + np.array([-0.04, -0.05, 0.08])) + side * (b.ear(-1) + np.array([-0.05, -0.06, 0.03]))
    f = p['tremor_hz']
    wob = np.array([0.015 * np.sin(2 * np.pi * f * t + p['phase']), jitter(t, p, 3, 0.015), jitter(t, p, 2, 0.01)])
    use, tilt = np.zeros(3), 0.0
    if obj == 'cup':
        sip = 0.5 - 0.5 * np.cos(2 * np.pi * p['sip_hz'] * t + p['use_phase'])    # 1 = cup at the lips
        use = np.array([0.0, -p['sip_dip'] * (1 - sip), 0.3 * p['sip_dip'] * (1 - sip)])
        tilt = -0.3 * sip
    elif obj == 'toothbrush':
        use = np.array([p['scrub_amp'] * np.sin(2 * np.pi * p['scrub_hz'] * t + p['use_phase']), 0.0, 0.0])
    hand = rest * (1 - up) + (target + p['face_off'] + wob + use) * up
    return [Pose(hand_r=hand, head_pitch=(p['head_tilt'] + tilt) * up, obj=obj, spine_pitch=jitter(t, p, 0))]


def drinking(t, p, b):
    return _hand_to_face(t, p, b, 'cup')


def phone_call(t, p, b):
    return _hand_to_face(t, p, b, 'phone')


def brushing_teeth(t, p, b):
    return _hand_to_face(t, p, b, 'toothbrush')


def falling_down(t, p, b):
    s = np.clip(t * p['speed'] / 1.0, 0.0, 1.0)
    fall = (np.pi / 2 - 0.04) * s * s
    buckle = 0.25 * bump(s * 1.5)
    reach = 0.9 * smooth(s * 2)
    fwd = np.cos(p['fall_dir']) >= 0
    hands_z = 0.35 * reach if fwd else -0.1 * reach
    return [Pose(fall=fall, fall_dir=p['fall_dir'], pelvis_drop=buckle, spine_pitch=0.3 * reach if fwd else -0.1,
                 hand_l=_arm_side(b, 1, -0.8 * b.arm_length + 0.5 * reach, hands_z),
                 hand_r=_arm_side(b, -1, -0.8 * b.arm_length + 0.5 * reach, hands_z),
                 head_pitch=0.2 * s, x=0.1 * jitter(t, p, 0, 1.0))]


def staggering(t, p, b):
    f = 0.6 * p['speed']
    sway = np.sin(2 * np.pi * f * t + p['phase']) + 0.4 * np.sin(2 * np.pi * 1.7 * f * t)
    step = 0.18 * p['amp'] * sway
    fl = np.array([b.hip_w + 0.08 + max(0.0, step), 0.06 + 0.06 * max(0.0, np.sin(4 * np.pi * f * t)), 0.05 * sway])
    fr = np.array([-b.hip_w - 0.08 + min(0.0, step), 0.06 + 0.06 * max(0.0, -np.sin(4 * np.pi * f * t)), -0.05 * sway])
    arms = 0.35 + 0.1 * np.sin(2 * np.pi * 1.3 * f * t)
    return [Pose(x=0.25 * p['amp'] * sway, z=0.15 * np.sin(2 * np.pi * 0.3 * f * t), spine_roll=0.22 * sway * p['amp'],
                 spine_pitch=0.25 + 0.1 * sway, head_pitch=0.35, pelvis_drop=0.08 + 0.04 * abs(sway),
                 hand_l=_arm_side(b, 1, -0.6 * b.arm_length, 0.1, arms), hand_r=_arm_side(b, -1, -0.6 * b.arm_length, 0.1, -arms),
                 foot_l=fl, foot_r=fr)]


def _victim(t, p, b, hit, dist):
    """The person on the receiving end: guard up, knocked back by ``hit`` in [0, 1]."""
    guard = 0.6 + 0.4 * p['amp']
    y = b.torso - 0.05
    return Pose(z=dist - 0.25 * hit, yaw=np.pi, spine_pitch=-0.3 * hit + jitter(t, p, 1),
                hand_l=np.array([0.12, y - 0.1 * (1 - guard), 0.22]), hand_r=np.array([-0.12, y - 0.1 * (1 - guard), 0.22]),
                head_pitch=-0.3 * hit)


def _strikes(t, p, f):
    """Repeated fast strikes: 0 (retracted) -> 1 (hit) -> 0, a sharp peak once per cycle."""
    return np.clip(np.sin(2 * np.pi * f * t + p['phase']), 0, 1) ** 0.6


def punching(t, p, b):
    f = 1.5 * p['speed']
    k = _strikes(t, p, f)
    y = b.torso + 0.02
    guard = np.array([0.13, y, 0.2])
    hr = np.array([-0.13, y, 0.2]) * (1 - k) + np.array([-0.04, y, 0.72]) * k
    actor = Pose(hand_l=guard, hand_r=hr, spine_pitch=0.15 + 0.1 * k, spine_roll=-0.12 * k, yaw=0.15 * k,
                 foot_l=np.array([b.hip_w, 0.06, 0.2]), foot_r=np.array([-b.hip_w, 0.06, -0.2]))
    return [actor, _victim(t, p, b, np.clip(np.sin(2 * np.pi * f * t + p['phase'] - 0.6), 0, 1), 0.85 * p['dist'])]


def kicking(t, p, b):
    f = 0.9 * p['speed']
    k = _strikes(t, p, f)
    fr = np.array([-b.hip_w, 0.06 + 0.6 * k * p['amp'], 0.65 * k])
    arms = 0.3 + 0.15 * k
    actor = Pose(foot_r=fr, spine_pitch=-0.25 * k, pelvis_drop=0.05 * k,
                 hand_l=_arm_side(b, 1, -0.6 * b.arm_length, 0.15, arms), hand_r=_arm_side(b, -1, -0.6 * b.arm_length, -0.1, -arms))
    return [actor, _victim(t, p, b, np.clip(np.sin(2 * np.pi * f * t + p['phase'] - 0.6), 0, 1), 1.05 * p['dist'])]


def pushing(t, p, b):
    f = 0.6 * p['speed']
    k = np.clip(np.sin(2 * np.pi * f * t + p['phase']), 0, 1) ** 0.5
    y = b.torso * 0.8
    hands = [np.array([s * 0.16, y, 0.18 + 0.42 * k]) for s in (1, -1)]
    actor = Pose(hand_l=hands[0], hand_r=hands[1], spine_pitch=0.1 + 0.25 * k, z=0.15 * k,
                 foot_l=np.array([b.hip_w, 0.06, 0.25 * k]), foot_r=np.array([-b.hip_w, 0.06, -0.15]))
    victim = _victim(t, p, b, np.clip(np.sin(2 * np.pi * f * t + p['phase'] - 0.4), 0, 1) * 1.6, 0.75 * p['dist'])
    return [actor, victim]


def idle(t, p, b):
    """Background person (not a class): stands, shifts weight, looks around."""
    return [Pose(spine_roll=0.04 * np.sin(0.4 * t + p['phase']), yaw=0.3 * np.sin(0.2 * t + p['phase']),
                 hand_l=_arm_side(b, 1, -0.95 * b.arm_length, 0.05 + jitter(t, p, 2)),
                 hand_r=_arm_side(b, -1, -0.95 * b.arm_length, 0.05 + jitter(t, p, 3)))]


ACTION_LIST = [
    Action('walking', walking),
    Action('sitting_down', sitting_down, duration=1.3, hold=False, prop='chair'),
    Action('standing_up', standing_up, duration=1.3, hold=False, prop='chair'),
    Action('waving', waving),
    Action('clapping', clapping),
    Action('picking_up', picking_up, duration=1.8),
    Action('drinking', drinking, obj='cup'),
    Action('phone_call', phone_call, obj='phone'),
    Action('brushing_teeth', brushing_teeth, obj='toothbrush'),
    Action('falling_down', falling_down, alarm=True, duration=1.0, hold=True),
    Action('staggering', staggering, alarm=True),
    Action('punching', punching, alarm=True, people=2),
    Action('kicking', kicking, alarm=True, people=2),
    Action('pushing', pushing, alarm=True, people=2),
]
ACTIONS = {a.name: a for a in ACTION_LIST}
LABELS = [a.name for a in ACTION_LIST]
ALARM_LABELS = [a.name for a in ACTION_LIST if a.alarm]
OBJECT_LABELS = [a.name for a in ACTION_LIST if a.obj]


def draw_params(rng: np.random.Generator) -> dict:
    """The randomised parameters of one performance (same draw order whatever the action)."""
    return {
        'speed': rng.uniform(0.75, 1.3),
        'amp': rng.uniform(0.8, 1.2),
        'phase': rng.uniform(0, 2 * np.pi),
        'lag': rng.uniform(0.0, 0.3),
        'dist': rng.uniform(0.9, 1.15),
        'fall_dir': rng.choice([0.0, np.pi, np.pi / 2, -np.pi / 2]) + rng.uniform(-0.4, 0.4),
        'face_off': rng.uniform(-0.025, 0.025, 3),
        'face_side': rng.uniform(0.0, 1.0),
        'tremor_hz': rng.uniform(1.0, 3.5),
        'head_tilt': rng.uniform(-0.25, 0.15),
        'noise': [(rng.uniform(0.1, 0.5), rng.uniform(0.5, 1.5), rng.uniform(0, 6.3), rng.uniform(0, 6.3))
                  for _ in range(4)],
        # drawn after the others (world round 4), so the parameters above keep their values
        'use_phase': rng.uniform(0, 2 * np.pi),
        'sip_hz': rng.uniform(0.4, 0.7),
        'sip_dip': rng.uniform(0.05, 0.10),
        'scrub_hz': rng.uniform(2.0, 3.5),
        'scrub_amp': rng.uniform(0.025, 0.04),
    }
