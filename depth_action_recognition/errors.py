"""The package's exception types.

Everything the core raises derives from :class:`DepthActionError`, so a node can catch one type at a
boundary (a callback, startup) and turn it into a counted drop or a clean exit with a message.
"""


class DepthActionError(Exception):
    """Base class of every error this package raises on purpose."""


class DepthDecodeError(DepthActionError):
    """A ``sensor_msgs/Image`` could not be read as depth.

    ``reason`` is a short, stable identifier (e.g. ``'encoding'``, ``'truncated'``) used as the key of
    the drop counters in ``/diagnostics``; the message says what exactly was wrong.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):      # raised in loader worker processes too: it must cross back whole
        return type(self), (self.reason, self.args[0])


class CheckpointError(DepthActionError):
    """A model file is missing, corrupt, or inconsistent with itself."""


class ConfigError(DepthActionError):
    """A parameter or option has a value the package cannot run with."""


class EngineError(DepthActionError):
    """Inference failed (device unavailable, out of memory, wrong input shape)."""


class FinishError(DepthActionError):
    """A clip buffer could not finish its waiting frames: ``frames`` frames (the one just added among them)
    were dropped, counted, and the buffer starts again."""

    def __init__(self, message: str, frames: int = 0):
        super().__init__(message)
        self.frames = frames

    def __reduce__(self):
        return type(self), (self.args[0], self.frames)
