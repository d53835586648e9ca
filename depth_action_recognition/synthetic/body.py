"""Articulated people: a subject's body, a pose, forward/inverse kinematics, and capsule primitives.

Frames: the *root* frame sits on the floor under the pelvis, x to the person's left, y up, z forward
(the way they face). A pose gives the pelvis height, spine pitch/roll, a whole-body fall rotation
about the feet, hand targets in the torso frame and foot targets in the root frame; arms and legs
reach their targets by two-bone IK, so motion programs can say "hand at the mouth" directly.

Every body is a set of capsules (segment A-B, radius r, part id); a sphere is a capsule with A == B.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

JOINTS = ('pelvis', 'chest', 'neck', 'head', 'l_shoulder', 'l_elbow', 'l_hand', 'r_shoulder', 'r_elbow',
          'r_hand', 'l_hip', 'l_knee', 'l_foot', 'r_hip', 'r_knee', 'r_foot')

# Part ids index the colour table of a person (rgb.py): what is skin, shirt, trousers, ...
SKIN, SHIRT, PANTS, SHOES, HAIR, OBJECT = range(6)


@dataclass(frozen=True)
class Body:
    """One subject's fixed body and appearance; :func:`make_body` derives it from the subject id."""

    subject: int
    height: float
    build: float
    thigh: float
    shin: float
    upper_arm: float
    forearm: float
    torso: float
    shoulder_w: float
    hip_w: float
    neck: float
    head_r: float
    colours: dict = field(default_factory=dict, compare=False)
    stripes: float = 0.0        # shirt stripe frequency (0 = plain)
    sleeves: bool = True        # long sleeves (forearms shirt-coloured) or short (skin)

    @property
    def hip_height(self) -> float:
        return self.thigh + self.shin + 0.06

    @property
    def arm_length(self) -> float:
        return self.upper_arm + self.forearm

    def mouth(self) -> np.ndarray:
        """Mouth in the torso frame (origin at the pelvis, before spine rotation)."""
        return np.array([0.0, self.torso + self.neck + self.head_r * 0.55, self.head_r * 0.9])

    def ear(self, side: float) -> np.ndarray:
        return np.array([side * self.head_r * 0.95, self.torso + self.neck + self.head_r * 0.9, 0.0])

    def shoulder(self, side: float) -> np.ndarray:
        return np.array([side * self.shoulder_w, self.torso - 0.03, 0.0])


SKIN_TONES = np.array([[255, 224, 196], [234, 192, 134], [198, 134, 66], [141, 85, 36], [96, 60, 30]], float)
HAIR_COLOURS = np.array([[20, 15, 10], [70, 45, 20], [160, 120, 60], [200, 190, 160], [110, 30, 20]], float)


def muted(rgb, keep: float = 0.45):
    """``rgb`` pulled towards its own grey. Clothes, walls, floors and furniture are muted so that the
    fully saturated colours stay with the hand-held objects (``Scene.PALETTES``): at 80x60 an object is
    a pixel or two, and its colour is what an RGB network can find there."""
    rgb = np.asarray(rgb, float)
    return rgb.mean(axis=-1, keepdims=True) * (1 - keep) + rgb * keep


def make_body(subject: int) -> Body:
    """The body of subject ``subject``: same id, same body and clothes, every time."""
    rng = np.random.default_rng([7919, int(subject)])
    h = rng.uniform(1.50, 1.95)
    build = rng.uniform(0.85, 1.25)
    leg = rng.uniform(0.94, 1.06)
    arm = rng.uniform(0.94, 1.06)
    colours = {
        SKIN: SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.05),
        SHIRT: muted(rng.uniform(20, 240, 3)),
        PANTS: muted(rng.uniform(15, 160, 3) * np.array([0.8, 0.85, 1.0])),
        SHOES: rng.uniform(10, 90) * np.ones(3),
        HAIR: HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))],
    }
    return Body(subject=int(subject), height=h, build=build, thigh=0.245 * h * leg, shin=0.215 * h * leg,
                upper_arm=0.17 * h * arm, forearm=0.155 * h * arm, torso=0.29 * h, shoulder_w=0.105 * h * (0.9 + 0.1 * build),
                hip_w=0.055 * h, neck=0.045 * h, head_r=0.06 * h, colours=colours,
                stripes=float(rng.choice([0.0, 0.0, rng.uniform(12, 30)])), sleeves=bool(rng.random() < 0.6))


@dataclass
class Pose:
    """Everything a motion program sets for one instant (see module docstring for the frames)."""

    x: float = 0.0
    z: float = 0.0
    yaw: float = 0.0
    pelvis_drop: float = 0.0       # metres below standing height
    pelvis_back: float = 0.0       # metres backwards (sitting)
    spine_pitch: float = 0.0       # forward bend, rad
    spine_roll: float = 0.0
    head_pitch: float = 0.0
    hand_l: np.ndarray | None = None   # torso frame; None = hanging
    hand_r: np.ndarray | None = None
    foot_l: np.ndarray | None = None   # root frame; None = under the hip
    foot_r: np.ndarray | None = None
    fall: float = 0.0              # rotation of the whole body about the feet, rad
    fall_dir: float = 0.0          # direction of the fall relative to facing (0 forward, pi backward)
    obj: str | None = None         # object in the right hand


def _rx(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def two_bone(root, target, l1, l2, pole):
    """Analytic two-bone IK: (middle joint, end) reaching towards ``target``, bending towards ``pole``."""
    d = target - root
    dist = float(np.linalg.norm(d))
    u = d / dist if dist > 1e-6 else np.array([0.0, -1.0, 0.0])
    dist = float(np.clip(dist, abs(l1 - l2) + 1e-3, l1 + l2 - 1e-4))
    cos_a = (l1 * l1 + dist * dist - l2 * l2) / (2 * l1 * dist)
    sin_a = np.sqrt(max(0.0, 1 - cos_a * cos_a))
    p = pole - np.dot(pole, u) * u
    n = np.linalg.norm(p)
    p = p / n if n > 1e-6 else np.array([0.0, 0.0, 1.0])
    mid = root + u * (l1 * cos_a) + p * (l1 * sin_a)
    return mid, root + u * dist


def skeleton(body: Body, pose: Pose) -> dict:
    """World positions of the 16 joints (plus 'hand_dir' helpers for held objects)."""
    b = body
    pelvis = np.array([0.0, b.hip_height - pose.pelvis_drop, -pose.pelvis_back])
    r_spine = _rz(pose.spine_roll) @ _rx(-pose.spine_pitch)   # -x rotation tips +y towards +z (forward)

    def torso(p):
        return pelvis + r_spine @ p

    j = {'pelvis': pelvis, 'chest': torso(np.array([0, b.torso * 0.75, 0.0])),
         'neck': torso(np.array([0, b.torso, 0.0]))}
    head_dir = r_spine @ _rx(-pose.head_pitch) @ np.array([0, 1.0, 0])
    j['head'] = j['neck'] + head_dir * (b.neck + b.head_r)
    for side, name in ((1.0, 'l'), (-1.0, 'r')):
        sh = torso(b.shoulder(side))
        hang = np.array([side * (b.shoulder_w + 0.04), b.torso - 0.03 - 0.97 * b.arm_length, 0.02])
        target = getattr(pose, f'hand_{name}')
        target = torso(hang if target is None else target)
        pole = r_spine @ np.array([side * 0.6, -0.3, -1.0])          # elbows point out and back
        elbow, hand = two_bone(sh, target, b.upper_arm, b.forearm, pole)
        j[f'{name}_shoulder'], j[f'{name}_elbow'], j[f'{name}_hand'] = sh, elbow, hand
        hip = pelvis + np.array([side * b.hip_w, -0.02, 0.0])
        foot = getattr(pose, f'foot_{name}')
        foot = np.array([side * b.hip_w, 0.06, 0.0]) if foot is None else foot
        knee, ankle = two_bone(hip, foot, b.thigh, b.shin, np.array([0.0, 0.0, 1.0]))   # knees forward
        j[f'{name}_hip'], j[f'{name}_knee'], j[f'{name}_foot'] = hip, knee, ankle

    # Whole-body fall: rotate about a horizontal axis on the floor at the edge of the feet.
    if pose.fall:
        fd = np.array([np.sin(pose.fall_dir), 0.0, np.cos(pose.fall_dir)])
        pivot = fd * 0.12
        axis = np.cross(np.array([0.0, 1.0, 0.0]), fd)
        rot = _axis_angle(axis, pose.fall)
        j = {k: pivot + rot @ (v - pivot) for k, v in j.items()}
    world = _ry(pose.yaw)
    offset = np.array([pose.x, 0.0, pose.z])
    return {k: world @ v + offset for k, v in j.items()}


def _axis_angle(axis, angle):
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


OBJECTS = {  # name: (length m, radius m, direction in hand frame: 'up' along the forearm-normal, 'fwd')
    'cup': (0.11, 0.045),
    'phone': (0.15, 0.025),
    'toothbrush': (0.19, 0.013),
}


def primitives(body: Body, j: dict, obj: str | None = None):
    """Capsules of a posed body: arrays A (K,3), B (K,3), radius (K,), part (K,), and extra (K,) ids."""
    b, s = body, body.build
    caps = []

    def cap(a, bb, r, part):
        caps.append((a, bb, r, part))

    up = j['neck'] - j['pelvis']
    up /= np.linalg.norm(up)
    side = j['l_shoulder'] - j['r_shoulder']
    side /= np.linalg.norm(side)
    for k in (-1, 1):   # the torso is two side-by-side capsules: wider than deep, like a person
        off = side * k * 0.045 * b.height * s / 1.7
        cap(j['pelvis'] + off + up * 0.05, j['neck'] + off - up * 0.08, 0.085 * s * b.height / 1.75, SHIRT)
    cap(j['l_shoulder'], j['r_shoulder'], 0.055 * s, SHIRT)
    cap(j['pelvis'] - side * b.hip_w, j['pelvis'] + side * b.hip_w, 0.085 * s, PANTS)
    cap(j['neck'] - up * 0.03, j['head'] - up * b.head_r * 0.6, 0.045 * s, SKIN)
    cap(j['head'], j['head'], b.head_r, SKIN)
    for n in 'lr':
        cap(j[f'{n}_shoulder'], j[f'{n}_elbow'], 0.047 * s, SHIRT)
        cap(j[f'{n}_elbow'], j[f'{n}_hand'], 0.038 * s, SHIRT if b.sleeves else SKIN)
        cap(j[f'{n}_hand'], j[f'{n}_hand'], 0.045, SKIN)
        cap(j[f'{n}_hip'], j[f'{n}_knee'], 0.075 * s, PANTS)
        cap(j[f'{n}_knee'], j[f'{n}_foot'], 0.055 * s, PANTS)
        fwd = np.cross(side, up)
        cap(j[f'{n}_foot'], j[f'{n}_foot'] + fwd * 0.13 - up * 0.02, 0.04, SHOES)
    if obj is not None:
        length, radius = OBJECTS[obj]
        hand, elbow = j['r_hand'], j['r_elbow']
        fore = hand - elbow
        fore /= np.linalg.norm(fore)
        if obj == 'cup':      # held upright beside the fingers
            c = hand + fore * 0.05
            cap(c - up * length / 2, c + up * length / 2, radius, OBJECT)
        elif obj == 'phone':  # along the side of the face, from the ear to the mouth
            c = hand + fore * 0.03
            cap(c - up * length * 0.6, c + up * length * 0.4, radius, OBJECT)
        else:                 # the brush sticks out of the fist towards the mouth
            cap(hand, hand + fore * length, radius, OBJECT)
    a = np.array([c[0] for c in caps])
    bb = np.array([c[1] for c in caps])
    r = np.array([c[2] for c in caps])
    part = np.array([c[3] for c in caps])
    return a, bb, r, part
