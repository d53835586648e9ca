"""Scenes: people + a furnished room + a depth camera, rendered to aligned depth (mm) and RGB.

Rendering is analytic ray casting in numpy, no GPU: the static room (floor, walls, furniture) is cast
once per scene, people are capsules cast only inside their screen bounding box, so a 160x120 RGB-D
frame costs a few milliseconds. The depth image then goes through a sensor model like a structured-light
/ ToF camera: noise and quantisation that grow with distance, holes at silhouette edges, out of range
and at random.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .actions import ACTIONS, LABELS, draw_params, idle
from .body import HAIR, OBJECT, SHIRT, SKIN, make_body, muted, primitives, skeleton

N_VIEWS = 5
N_SUBJECTS = 40
NEAR_M = 0.1           # nearest depth (m) a body part is drawn at: nearer parts are behind or at the lens


def project(p: np.ndarray, f, width: int, height: int) -> tuple:
    """Image coordinates (u right, v down; pixels) of camera-frame points (..., 3) in front of a camera of focal
    length ``f`` pixels; ``f`` may be an array broadcasting against the points (one camera per point)."""
    return width / 2 + f * p[..., 0] / p[..., 2], height / 2 - f * p[..., 1] / p[..., 2]


def in_view(p: np.ndarray, f, width: int, height: int) -> np.ndarray:
    """Whether camera-frame points (..., 3) are in a ``width`` x ``height`` image: beyond the renderer's near
    limit (:data:`NEAR_M`) and projected inside it."""
    front = p[..., 2] > NEAR_M
    u, v = project(np.where(front[..., None], p, 1.0), f, width, height)     # no division by a point behind
    return front & (u >= 0) & (u < width) & (v >= 0) & (v < height)


@dataclass(frozen=True)
class Camera:
    """Pinhole depth/RGB camera (the two are pixel-aligned: a registered RGB-D sensor)."""

    width: int
    height: int
    f: float                 # focal length in pixels
    position: np.ndarray
    rotation: np.ndarray     # camera -> world; camera axes: x right, y up, z forward
    max_range: float = 8.0

    def rays(self) -> np.ndarray:
        """Unit ray directions (H, W, 3) in camera coordinates."""
        u = (np.arange(self.width) + 0.5 - self.width / 2) / self.f
        v = -(np.arange(self.height) + 0.5 - self.height / 2) / self.f
        d = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1))), axis=-1)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def to_camera(self, p: np.ndarray) -> np.ndarray:
        return (p - self.position) @ self.rotation

    def project(self, p: np.ndarray) -> tuple:
        """Image coordinates (u right, v down; pixels) of camera-frame points (N, 3) in front of the camera."""
        return project(p, self.f, self.width, self.height)

    def in_view(self, p: np.ndarray) -> np.ndarray:
        """Whether camera-frame points (..., 3) are in this camera's image (:func:`in_view`)."""
        return in_view(p, self.f, self.width, self.height)


def make_camera(view: int, rng: np.random.Generator, size: tuple, hfov: float | None = None) -> Camera:
    """View ``view`` (0..N_VIEWS-1) fixes the azimuth and height family; the rest is jitter.
    ``hfov`` (degrees) sets the horizontal field of view instead of the usual 55-65 degrees."""
    azimuth = np.radians(-60 + 30 * view + rng.uniform(-8, 8))
    height = [1.0, 1.8, 2.5, 1.4, 2.2][view] + rng.uniform(-0.2, 0.2)
    dist = rng.uniform(2.3, 3.5)
    pos = np.array([dist * np.sin(azimuth), height, dist * np.cos(azimuth)])
    look = np.array([rng.uniform(-0.2, 0.2), rng.uniform(0.6, 1.0), rng.uniform(-0.2, 0.2)])
    drawn = rng.uniform(55, 65)               # drawn either way: the rest of the stream stays as it was
    return camera_at(pos, look, size, drawn if hfov is None else hfov, max_range=rng.uniform(6.0, 8.0))


def level_rotation(position, look) -> np.ndarray:
    """Camera -> world rotation(s) of level (no roll) cameras at ``position`` aimed at ``look``: (..., 3, 3), the
    columns right, up and forward; points (..., 3) broadcast, so that many cameras are made at once."""
    fwd = np.asarray(look, dtype=float) - np.asarray(position, dtype=float)
    # One camera: the norm as it always was (a norm along an axis may differ in the last bit, and a camera's
    # rotation is part of every rendering of the world's rounds).
    norm = (lambda v: np.linalg.norm(v)) if fwd.ndim == 1 else (lambda v: np.linalg.norm(v, axis=-1, keepdims=True))
    fwd = fwd / norm(fwd)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right = right / norm(right)
    up = np.cross(right, fwd)
    return np.stack([right, up, fwd], axis=-1)


def focal_length(width: int, hfov: float) -> float:
    """Focal length in pixels of an image ``width`` pixels and ``hfov`` degrees across."""
    return (width / 2) / np.tan(np.radians(hfov) / 2)


def camera_at(position, look, size: tuple, hfov: float, max_range: float = 8.0) -> Camera:
    """A level (no roll) camera of ``size`` (height, width) at ``position`` aimed at ``look``, ``hfov`` degrees
    across."""
    h, w = size
    pos = np.asarray(position, dtype=float)
    return Camera(width=w, height=h, f=focal_length(w, hfov), position=pos, rotation=level_rotation(pos, look),
                  max_range=max_range)


@dataclass
class Room:
    """A box room turned to face the camera (yaw), with furniture boxes in world coordinates."""

    yaw: float
    side: float                      # side walls at x = +-side (room frame)
    back: float                      # back wall at z = -back, behind the actors
    front: float                     # wall behind the camera
    ceiling: float
    boxes: list                      # (lo (3,), hi (3,), colour (3,))
    floor_colours: tuple
    wall_colour: np.ndarray
    tile: float


# World rounds the renderer can draw (docs/streaming.md, "World round 5"). Round 4 stood furniture anywhere
# 1.8-3.0 m from the room's middle, so a box could stand between the camera and the people, or against the lens
# (a camera that reads nothing for a whole stream). Round 5 keeps furniture out of that corridor; it changes
# only where boxes stand (and, through the redrawn boxes, the room's later draws), and round 4 still renders
# bit for bit, so the folders the shipped model learnt from can be rendered again.
WORLDS = (4, 5)
WORLD = 5
# Floor distance kept between furniture and the line from the camera to the room's middle: people stand
# within 0.6 m of the middle (body and reach to about 0.9 m), and sight lines to them narrow towards the
# camera, so a box this far from that line hides nobody at the middle and does not stand against the lens.
VIEW_CLEARANCE = 1.0


def floor_distance(lo, hi, a, b, samples: int = 129) -> float:
    """Floor (x, z) distance from the segment ``a``-``b`` to the box ``lo``-``hi`` (0 where they cross),
    measured at ``samples`` points of the segment: within (segment length / (samples - 1)) / 2 of exact."""
    s = np.linspace(0.0, 1.0, samples)[:, None]
    p = (np.asarray(a, float) + s * (np.asarray(b, float) - np.asarray(a, float)))[:, [0, 2]]
    lo2, hi2 = np.asarray(lo, float)[[0, 2]], np.asarray(hi, float)[[0, 2]]
    gap = np.maximum(np.maximum(lo2 - p, p - hi2), 0.0)
    return float(np.min(np.linalg.norm(gap, axis=1)))


def make_room(rng, cam: Camera, chair_at=None, chair_yaw=0.0, prop_rng=None, world: int = WORLD) -> Room:
    boxes = []
    for _ in range(rng.integers(1, 4)):     # furniture along the walls, out of the actors' way
        for _attempt in range(100):         # round 5: drawn again while in the camera's way (100: never met)
            ang = rng.uniform(0, 2 * np.pi)
            c = np.array([np.sin(ang), 0, np.cos(ang)]) * rng.uniform(1.8, 3.0)
            size = np.array([rng.uniform(0.4, 1.4), rng.uniform(0.4, 1.9), rng.uniform(0.4, 1.0)])
            box = (c - size * [0.5, 0, 0.5], c + size * [0.5, 1, 0.5], muted(rng.uniform(40, 220, 3)))
            if world == 4 or floor_distance(box[0], box[1], cam.position, np.zeros(3)) >= VIEW_CLEARANCE:
                boxes.append(box)
                break
    if chair_at is not None:   # a seat behind the actor
        back = chair_at + np.array([-np.sin(chair_yaw), 0, -np.cos(chair_yaw)]) * 0.42
        boxes.append((back - [0.22, 0, 0.22], back + [0.22, 0.44, 0.22], muted((prop_rng or rng).uniform(60, 200, 3))))
    yaw = float(np.arctan2(cam.position[0], cam.position[2]))
    dist = float(np.hypot(cam.position[0], cam.position[2]))
    return Room(yaw=yaw, side=rng.uniform(2.5, 4.0), back=rng.uniform(1.5, 3.0), front=dist + 0.5,
                ceiling=rng.uniform(2.7, 3.2), boxes=boxes,
                floor_colours=(muted(rng.uniform(60, 200, 3)), muted(rng.uniform(60, 200, 3))),
                wall_colour=muted(rng.uniform(120, 235, 3)), tile=rng.uniform(0.3, 0.8))


def _yaw_matrix(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def cast_room(room: Room, cam: Camera, rays_c: np.ndarray, light: np.ndarray):
    """Depth (camera z, metres) and shaded RGB of the room and its furniture, (H, W) and (H, W, 3)."""
    d = rays_c @ cam.rotation.T                     # world directions
    o = cam.position
    to_room = _yaw_matrix(room.yaw)                 # world -> room frame is v @ to_room
    dr, orr = d @ to_room, o @ to_room
    hi = np.array([room.side, room.ceiling, room.front])
    lo = np.array([-room.side, 0.0, -room.back])
    with np.errstate(divide='ignore', invalid='ignore'):
        ts = np.where(dr > 0, (hi - orr) / dr, (lo - orr) / dr)
    ts[~np.isfinite(ts) | (ts <= 0)] = np.inf
    axis = np.argmin(ts, axis=-1)
    t = np.min(ts, axis=-1)
    normal_r = np.zeros_like(d)
    np.put_along_axis(normal_r, axis[..., None], 1.0, axis=-1)
    normal_r *= -np.sign(np.take_along_axis(dr, axis[..., None], axis=-1))
    normal = normal_r @ to_room.T
    hit = orr + dr * t[..., None]
    floor = (axis == 1) & (dr[..., 1] < 0)
    checker = ((np.floor(hit[..., 0] / room.tile) + np.floor(hit[..., 2] / room.tile)) % 2).astype(bool)
    colour = np.where(checker[..., None], room.floor_colours[0], room.floor_colours[1])
    wall = room.wall_colour * (0.9 + 0.1 * np.sin(hit[..., 1:2] * 9) * np.sin(hit[..., 0:1] * 3 + hit[..., 2:3] * 3))
    colour = np.where(floor[..., None], colour, wall)
    colour = np.where(((axis == 1) & ~floor)[..., None], 235.0, colour)
    for lo, hi, col in room.boxes:
        with np.errstate(divide='ignore', invalid='ignore'):
            t1, t2 = (lo - o) / d, (hi - o) / d
        tmin = np.nanmax(np.minimum(t1, t2), axis=-1)
        tmax = np.nanmin(np.maximum(t1, t2), axis=-1)
        inside = (tmax >= tmin) & (tmin > 0) & (tmin < t)
        if inside.any():
            t = np.where(inside, tmin, t)
            p = o + d * tmin[..., None]
            centre = (lo + hi) / 2
            rel = (p - centre) / ((hi - lo) / 2)
            ax = np.argmax(np.abs(rel), axis=-1)
            n = np.zeros_like(d)
            np.put_along_axis(n, ax[..., None], 1.0, axis=-1)
            n *= np.sign(np.take_along_axis(rel, ax[..., None], axis=-1))
            normal = np.where(inside[..., None], n, normal)
            colour = np.where(inside[..., None], col, colour)
    shade = 0.45 + 0.55 * np.clip(np.sum(normal * light, axis=-1), 0, 1)
    return t * rays_c[..., 2], colour * shade[..., None]


def cast_capsules(a, b, r, rays):
    """Ray/capsule casting in camera space (rays from the origin): t (K, N) with inf for misses, and s."""
    u = b - a
    ad, ud = a @ rays.T, u @ rays.T
    au, uu, aa = np.sum(a * u, 1)[:, None], np.sum(u * u, 1)[:, None], np.sum(a * a, 1)[:, None]
    denom = uu - ud * ud
    with np.errstate(divide='ignore', invalid='ignore'):
        s = np.where(denom > 1e-12, (ad * ud - au) / denom, 0.0)
    s = np.clip(s, 0.0, 1.0)
    pd = ad + s * ud
    miss2 = aa + 2 * s * au + s * s * uu - pd * pd      # squared distance from the segment point to the ray
    r2 = (r * r)[:, None]
    hit = miss2 < r2
    t = np.where(hit, pd - np.sqrt(np.maximum(r2 - miss2, 0.0)), np.inf)
    t[t <= 0.05] = np.inf
    return t, s


@dataclass
class SensorModel:
    """Structured-light / ToF style depth errors (all per camera)."""

    noise_a: float = 0.0012        # sigma(z) = a + b (z - 0.4)^2, metres (Kinect-like)
    noise_b: float = 0.0019
    disparity_step: float = 0.0025  # quantisation in 1/m: the step grows with z^2
    min_range: float = 0.4
    edge_drop: float = 0.6          # probability a pixel on the far side of a depth edge is missing
    edge_jump: float = 0.1          # relative depth jump that counts as an occlusion edge
    dropout: float = 0.005          # random missing pixels

    def apply(self, z: np.ndarray, max_range: float, rng: np.random.Generator) -> np.ndarray:
        """True depth (metres) -> sensor depth, uint16 millimetres, 0 = no reading."""
        zn = z + rng.standard_normal(z.shape) * (self.noise_a + self.noise_b * (z - 0.4) ** 2)
        zq = 1.0 / (np.round(1.0 / (np.maximum(zn, 1e-3) * self.disparity_step)) * self.disparity_step)
        bad = (z > max_range) | (z < self.min_range) | (rng.random(z.shape) < self.dropout)
        # The far side of a depth discontinuity is shadowed / mixed in real sensors.
        # A jump of over edge_jump * z between neighbours is an occlusion edge (a floor seen at a grazing
        # angle changes by a few percent per pixel, a person in front of a wall by tens of percent).
        far_edge = np.zeros_like(bad)
        for axis in (0, 1):
            diff = np.diff(z, axis=axis)
            lo = [slice(None)] * 2
            hi = [slice(None)] * 2
            lo[axis], hi[axis] = slice(None, -1), slice(1, None)
            step = self.edge_jump * z[tuple(hi)]
            far_edge[tuple(lo)] |= diff < -step     # this pixel is farther than the next one
            far_edge[tuple(hi)] |= diff > step      # this pixel is farther than the previous one
        bad |= far_edge & (rng.random(z.shape) < self.edge_drop)
        out = np.round(zq * 1000.0)
        out[bad] = 0
        return np.clip(out, 0, 65535).astype(np.uint16)


@dataclass
class RenderedClip:
    depth: np.ndarray          # (T, H, W) uint16 millimetres, 0 = no reading
    rgb: np.ndarray | None     # (T, H, W, 3) uint8, pixel-aligned with depth
    label: str
    label_id: int
    meta: dict = field(default_factory=dict)


class Scene:
    """One performance of an action by one subject (plus partner/bystander) seen from one camera."""

    def __init__(self, action: str, seed: int, *, size=(120, 160), subject=None, view=None, people=None,
                 onset=None, clip_seconds=1.6, bystander_p=0.25, world_seed=None, hfov=None, native_step=1,
                 partners=None, world: int = WORLD):
        if action not in ACTIONS:
            raise ValueError(f'unknown action {action!r}; expected one of {LABELS}')
        if len(size) != 2 or not (16 <= size[0] <= 1080 and 16 <= size[1] <= 1920):
            raise ValueError(f'size must be (height, width) within (16..1080, 16..1920), got {size}')
        if hfov is not None and not 30 <= hfov <= 120:
            raise ValueError(f'hfov must be within 30..120 degrees, got {hfov}')
        if world not in WORLDS:
            raise ValueError(f'world must be one of the rounds {WORLDS}, got {world!r}')
        self.world = int(world)
        self.action = ACTIONS[action]
        self.seed = int(seed)
        key = [self.seed, LABELS.index(action)]
        r_setup, r_motion = (np.random.default_rng(key + [i]) for i in (0, 1))
        self._noise_key = key + [2]
        # Camera, room, light and sensor come from their own stream: a simulated camera keeps them fixed
        # (world_seed) while the actions change in front of it.
        r_world = np.random.default_rng([self.seed if world_seed is None else int(world_seed), 1_000_003])
        self.subject = int(r_setup.integers(1, N_SUBJECTS + 1)) if subject is None else int(subject)
        self.view = int(r_setup.integers(0, N_VIEWS)) if view is None else int(view)
        if not 0 <= self.view < N_VIEWS:
            raise ValueError(f'view must be in 0..{N_VIEWS - 1}, got {self.view}')
        n_people = self.action.people
        if people is None:
            people = n_people + (1 if n_people == 1 and r_setup.random() < bystander_p else 0)
        if people < n_people or people > 2:
            raise ValueError(f'{action} needs {n_people} people; people must be {n_people}..2, got {people}')
        self.people = int(people)
        # The second person (partner of a two-person action, or a bystander) is any other of the 40 subjects
        # (as since world round 4) unless ``partners`` names the pool: a split's own subjects keep a held-out person
        # out of training data also as somebody's partner. The first draw is made either way, so that every
        # later draw, and so the rest of the scene, stays the same.
        partner = int(r_setup.integers(1, N_SUBJECTS + 1))
        if partner == self.subject:
            partner = partner % N_SUBJECTS + 1
        if partners is not None and self.people == 2:
            pool = sorted({int(p) for p in partners} - {self.subject})
            if not pool:
                raise ValueError(f'partners {sorted(partners)}: no subject other than {self.subject} to draw from')
            partner = pool[int(np.random.default_rng(key + [3]).integers(len(pool)))]
        self.partner = partner if self.people == 2 else None
        self.bodies = [make_body(self.subject)] + ([make_body(partner)] if self.people == 2 else [])
        self.params = draw_params(r_motion)
        self.bystander_params = draw_params(r_motion)
        self.camera = make_camera(self.view, r_world, size, hfov)
        self.pos = np.array([r_setup.uniform(-0.6, 0.6), 0.0, r_setup.uniform(-0.6, 0.6)])
        # People mostly face the camera's half of the room (profile at worst), as in NTU's three views: an
        # action done with the back to the camera hides the hands, in RGB and depth alike.
        to_cam = np.arctan2(self.camera.position[0] - self.pos[0], self.camera.position[2] - self.pos[2])
        self.yaw = to_cam + r_setup.uniform(-1.3, 1.3)
        ang = r_setup.uniform(0, 2 * np.pi)
        self.bystander_pos = self.pos + np.array([np.sin(ang), 0, np.cos(ang)]) * r_setup.uniform(1.4, 2.2)
        self.bystander_yaw = r_setup.uniform(-np.pi, np.pi)
        if self.action.name == 'walking':  # walk across the middle of the scene, whatever the facing
            self.pos -= np.array([np.sin(self.yaw), 0, np.cos(self.yaw)]) * 1.1 * self.params['speed'] * clip_seconds / 2
        if onset is None:
            d = self.action.duration
            if d:   # the motion happens inside the clip (or, for falls, may already be over: lying)
                lo = -(d + 2.0) if self.action.hold else -0.45 * d
                onset = r_setup.uniform(lo, max(lo + 0.1, clip_seconds - 0.55 * d))
            else:
                onset = r_setup.uniform(-1.0, 0.0)
        self.onset = float(onset)
        if self.action.prop == 'chair':
            chair_at = self.pos
        elif r_setup.random() < 0.2:   # a distractor chair, so "a chair is there" does not give the class away
            chair_at = self.pos + np.array([r_setup.uniform(1.0, 1.6), 0, r_setup.uniform(-0.5, 0.5)])
        else:
            chair_at = None
        self.room = make_room(r_world, self.camera, chair_at, self.yaw, r_setup, world=self.world)
        light = r_world.normal(size=3) + np.array([0.0, 2.0, 0.0])
        self.light = light / np.linalg.norm(light)
        self.gain = r_world.uniform(0.7, 1.2)
        # native_step > 1: this frame stands for a camera native_step times larger, decimated by the
        # preprocessing (every native_step-th pixel). Noise, quantisation and random holes are per pixel and
        # survive decimation as they are; a one-pixel hole band along an occlusion edge of the large frame is
        # hit by a decimated pixel only once in native_step, so it is that much rarer here.
        self.sensor = SensorModel(edge_drop=r_world.uniform(0.4, 0.8) / native_step,
                                  dropout=r_world.uniform(0.002, 0.01), disparity_step=r_world.uniform(0.002, 0.003))
        self._rays = self.camera.rays()
        self._bg_z, self._bg_rgb = cast_room(self.room, self.camera, self._rays, self.light)

    @property
    def background_depth(self) -> np.ndarray:
        """The empty room's depth (camera z, metres; H, W) before the sensor model (range, noise, holes): what a
        pixel would read with nobody in front of it. A copy: the scene renders every frame from its own."""
        return self._bg_z.copy()

    # -------------------------------------------------------------------------------------------
    def poses(self, t: float):
        """World-placed (body, pose) pairs at scene time ``t`` (seconds since the clip start)."""
        tr = t - self.onset
        poses = self.action.program(tr, self.params, self.bodies[0])
        out = []
        for i, pose in enumerate(poses):
            base_yaw = self.yaw
            c, s = np.cos(base_yaw), np.sin(base_yaw)
            dx, dz = c * pose.x + s * pose.z, -s * pose.x + c * pose.z
            pose.x, pose.z = self.pos[0] + dx, self.pos[2] + dz
            pose.yaw = base_yaw + pose.yaw
            out.append((self.bodies[i], pose))
        if self.people == 2 and len(poses) == 1:    # a bystander who is not part of the action
            pose = idle(t, self.bystander_params, self.bodies[1])[0]
            pose.x, pose.z, pose.yaw = self.bystander_pos[0], self.bystander_pos[2], self.bystander_yaw + pose.yaw
            out.append((self.bodies[1], pose))
        return out

    def render(self, t: float, frame_index: int = 0, rgb: bool = True):
        """Depth (H, W) uint16 mm and RGB (H, W, 3) uint8 (or None) at scene time ``t``."""
        cam = self.camera
        z = self._bg_z.copy()
        colour = self._bg_rgb.copy() if rgb else None
        for body, pose in self.poses(t):
            j = skeleton(body, pose)
            a, b, r, part = primitives(body, j, pose.obj)
            a, b = cam.to_camera(a), cam.to_camera(b)
            zs = np.minimum(a[:, 2], b[:, 2])
            if np.all(zs < NEAR_M):
                continue
            roi = self._bbox(a, b, r)
            if roi is None:
                continue
            v0, v1, u0, u1 = roi
            rays = self._rays[v0:v1, u0:u1].reshape(-1, 3)
            t_hit, s = cast_capsules(a, b, r, rays)
            k = np.argmin(t_hit, axis=0)
            tk = t_hit[k, np.arange(len(k))]
            zk = (tk * rays[:, 2]).reshape(v1 - v0, u1 - u0)
            patch = z[v0:v1, u0:u1]
            front = zk < patch
            patch[front] = zk[front]
            if rgb:
                hits = front.ravel()
                colour[v0:v1, u0:u1][front] = self._shade(body, a, b, r, part, k[hits], s[:, hits], tk[hits],
                                                           rays[hits])
        depth = self.sensor.apply(z, cam.max_range, np.random.default_rng(self._noise_key + [frame_index]))
        if not rgb:
            return depth, None
        noise = np.random.default_rng(self._noise_key + [frame_index, 1]).normal(0, 3.0, colour.shape)
        return depth, np.clip(colour * self.gain + noise, 0, 255).astype(np.uint8)

    def _bbox(self, a, b, r):
        cam = self.camera
        pts = np.concatenate([a, b])
        rr = np.concatenate([r, r])
        ok = pts[:, 2] > NEAR_M
        pts, rr = pts[ok], rr[ok]
        u, v = cam.project(pts)
        m = cam.f * rr / pts[:, 2] + 2
        u0, u1 = int(max(0, np.floor(np.min(u - m)))), int(min(cam.width, np.ceil(np.max(u + m))))
        v0, v1 = int(max(0, np.floor(np.min(v - m)))), int(min(cam.height, np.ceil(np.max(v + m))))
        if u1 <= u0 or v1 <= v0:
            return None
        return v0, v1, u0, u1

    def _shade(self, body, a, b, r, part, k, s, t, rays):
        sk = s[k, np.arange(len(k))]
        centre = a[k] + (b[k] - a[k]) * sk[:, None]
        hit = rays * t[:, None]
        n = (hit - centre) / r[k][:, None]
        n_world = n @ self.camera.rotation.T
        pid = part[k]
        table = np.zeros((6, 3))
        for key, col in body.colours.items():
            table[key] = col
        table[OBJECT] = self._object_colour()
        col = table[pid]
        world_y = (hit @ self.camera.rotation.T)[:, 1] + self.camera.position[1]
        if body.stripes:
            stripe = 0.75 + 0.25 * np.sign(np.sin(world_y * body.stripes))
            col = np.where((pid == SHIRT)[:, None], col * stripe[:, None], col)
        hair = (pid == SKIN) & (k == 4) & (n_world[:, 1] > 0.2)     # the head is primitive 4
        col = np.where(hair[:, None], body.colours[HAIR], col)
        shade = 0.4 + 0.6 * np.clip(n_world @ self.light, 0, 1)
        shade = np.where(pid == OBJECT, 0.75 + 0.25 * shade, shade)  # glossy objects keep their colour in shadow
        return col * shade[:, None]

    # Each object has its own fully saturated palette, colours nothing else in the world has (clothes and
    # rooms are ``muted``): cups red or orange, phones in a blue case, toothbrushes green. At
    # 80x60 an object is one or two pixels at the face, and its colour is what RGB can see there.
    PALETTES = {'cup': ([235, 25, 20], [250, 110, 0]),
                'phone': ([20, 60, 250], [0, 150, 255]),
                'toothbrush': ([20, 230, 40], [150, 255, 0])}

    def _object_colour(self):
        palette = self.PALETTES.get(self.action.obj)
        if palette is None:
            return np.zeros(3)
        rng = np.random.default_rng([self.seed, 99])
        return np.array(palette[rng.integers(len(palette))], dtype=float)

    def meta(self) -> dict:
        return {'action': self.action.name, 'label_id': LABELS.index(self.action.name), 'alarm': self.action.alarm,
                'subject': self.subject, 'view': self.view, 'people': self.people, 'partner': self.partner,
                'seed': self.seed, 'world': self.world,
                'onset': round(self.onset, 4), 'size': [self.camera.height, self.camera.width]}


def render_clip(action: str, seed: int, frames: int = 16, size=(120, 160), *, fps: float = 10.0,
                rgb: bool = True, **options) -> RenderedClip:
    """Render one clip. Same arguments -> identical output, bit for bit.

    ``options``: ``subject`` (1..40), ``view`` (0..4), ``people`` (1 or 2), ``onset`` (seconds from the
    clip start to the action's key motion), ``bystander_p``, ``partners`` (the subjects the second person is
    drawn from; default any other of the 40), ``world`` (the world round, :data:`WORLDS`; default :data:`WORLD`).
    """
    if frames < 1:
        raise ValueError(f'frames must be >= 1, got {frames}')
    scene = Scene(action, seed, size=size, clip_seconds=frames / fps, **options)
    depth = np.empty((frames,) + tuple(size), np.uint16)
    colour = np.empty((frames,) + tuple(size) + (3,), np.uint8) if rgb else None
    for i in range(frames):
        d, c = scene.render(i / fps, i, rgb=rgb)
        depth[i] = d
        if rgb:
            colour[i] = c
    meta = {**scene.meta(), 'fps': fps, 'frames': frames}
    return RenderedClip(depth=depth, rgb=colour, label=action, label_id=meta['label_id'], meta=meta)
