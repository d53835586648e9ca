"""A procedural world of people doing actions, rendered as pixel-aligned depth and RGB clips.

``ACTIONS`` lists the classes (``ALARM_LABELS`` the dangerous ones, ``OBJECT_LABELS`` those told apart
mainly by a hand-held object); :func:`render_clip` renders one clip deterministically.
"""
from .actions import ACTION_LIST, ACTIONS, ALARM_LABELS, LABELS, OBJECT_LABELS
from .scene import N_SUBJECTS, N_VIEWS, WORLD, WORLDS, RenderedClip, Scene, SensorModel, render_clip

__all__ = ['ACTIONS', 'ACTION_LIST', 'ALARM_LABELS', 'LABELS', 'OBJECT_LABELS', 'N_SUBJECTS', 'N_VIEWS',
           'RenderedClip', 'Scene', 'SensorModel', 'WORLD', 'WORLDS', 'render_clip']
