"""The one ``main`` of every node executable: init, spin, quiet Ctrl-C, startup errors as one line + exit 2.

Nodes spin in rclpy's ``EventsExecutor`` by default. The stock ``SingleThreadedExecutor`` is written in
Python and rebuilds its wait set, walking every entity of every node (subscriptions, timers, the
parameter services, each publisher's QoS event handlers), on each wake-up — and a depth camera wakes it
30 times a second per topic. bench/node.py measured a subscriber of 640x480 depth at 0.63-0.70 of the
CPU per frame on the events executor that it needs on the stock one (docs/performance.md).
``--executor single`` (or ``DEPTH_ACTION_EXECUTOR=single``) goes back to the stock executor, e.g. where
an rclpy build lacks the experimental one.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

import rclpy
from rclpy._rclpy_pybind11 import RCLError, UnknownROSArgsError
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.signals import SignalHandlerOptions
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from .errors import ConfigError, DepthActionError

# rcl's own errors at init (an SROS2 enclave missing under Enforce, unknown ROS arguments) are startup
# errors too: one line naming them, status 2, no traceback.
STARTUP_ERRORS = (DepthActionError, ParameterException, NameValidationException, RCLError, UnknownROSArgsError)
EXECUTORS = ('events', 'single')


def executor_kind(kind: str | None = None) -> str:
    """``kind`` checked, or $DEPTH_ACTION_EXECUTOR, or ``events``."""
    kind = kind or os.environ.get('DEPTH_ACTION_EXECUTOR') or 'events'
    if kind not in EXECUTORS:
        raise ConfigError(f'executor must be one of {EXECUTORS}, got {kind!r}')
    return kind


def make_executor(kind: str | None = None, context=None):
    """An executor of kind ``events`` or ``single`` (see :func:`executor_kind`); after ``rclpy.init``."""
    if executor_kind(kind) == 'events':
        try:
            from rclpy.experimental import EventsExecutor
        except ImportError:          # an rclpy without it (before Jazzy): the stock executor still works
            pass
        else:
            return EventsExecutor(context=context)
    return SingleThreadedExecutor(context=context)


def pop_executor_flag(argv: list) -> str | None:
    """Remove ``--executor KIND`` / ``--executor=KIND`` from ``argv`` (before the ROS arguments); its value."""
    for i, a in enumerate(argv):
        if a == '--ros-args':
            break
        if a.startswith('--executor='):
            argv.pop(i)
            return a.split('=', 1)[1]
        if a == '--executor' and i + 1 < len(argv):
            argv.pop(i)
            return argv.pop(i)
    return None


STOP = threading.Event()


def init_ros(args: list) -> None:
    """``rclpy.init`` with our own SIGINT/SIGTERM handling: a signal only sets :data:`STOP`.

    rclpy's handlers shut the context down (or raise KeyboardInterrupt) wherever the main thread is — often
    inside the camera simulator's render callback, which the events executor then logs as a FATAL
    exception with a traceback on every other Ctrl-C. Setting a flag lets the callback finish and the
    spin loop end between callbacks.
    """
    STOP.clear()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: STOP.set())


def spin_until_shutdown(executor, deadline: float | None = None, context=None) -> None:
    """Spin until a signal sets :data:`STOP`, the context shuts down or ``time.monotonic()`` passes
    ``deadline``.

    spin_once in a loop rather than spin(): with rclpy 9.1's EventsExecutor, spin() never ran a timer
    (a 30 Hz timer: 0 calls in 3 s; spin_once: 90), and the camera simulator is a timer. A shutdown from
    elsewhere can still pull the context from under a running callback (a timer publishing gets
    "publisher's context is invalid"); that is a stop, not a failure, so it ends the loop quietly.
    """
    context = context or rclpy.get_default_context()
    while not STOP.is_set() and context.ok() and (deadline is None or time.monotonic() < deadline):
        try:
            executor.spin_once(timeout_sec=0.1)
        except Exception:
            if context.ok():
                raise
            return


def spin_node(make_node, prog: str, ros_args=None) -> int:
    """Build the node with ``make_node()`` and spin it until Ctrl-C or shutdown."""
    ros_args = list(sys.argv[1:] if ros_args is None else ros_args)
    node = None
    try:
        kind = executor_kind(pop_executor_flag(ros_args))
    except ConfigError as e:
        print(f'{prog}: error: {e}', file=sys.stderr)
        return 2
    executor = None
    try:
        init_ros(ros_args)
        node = make_node()
        executor = make_executor(kind)
        executor.add_node(node)
        spin_until_shutdown(executor)
    except STARTUP_ERRORS as e:
        what = f'unknown ROS arguments {e}' if isinstance(e, UnknownROSArgsError) else str(e).strip().splitlines()[0]
        print(f'{prog}: error: {what}', file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if executor is not None:
            executor.remove_node(node)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
