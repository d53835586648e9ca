"""The one ``main`` of every node executable: init, spin, quiet Ctrl-C, startup errors as one line + exit 2."""
from __future__ import annotations

import sys

import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException

from .errors import DepthActionError

STARTUP_ERRORS = (DepthActionError, ParameterException, NameValidationException)


def spin_node(make_node, prog: str, ros_args=None) -> int:
    """Build the node with ``make_node()`` and spin it until Ctrl-C or shutdown."""
    rclpy.init(args=ros_args)
    node = None
    try:
        node = make_node()
        rclpy.spin(node)
    except STARTUP_ERRORS as e:
        print(f'{prog}: error: {e}', file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
