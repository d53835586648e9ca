"""``depth-action-monitor``: the whole system in one process, configured by a ROS 2 params file.

The pip-world twin of ``ros2 launch depth_action_recognition monitor.launch.py``: both read the same
YAML (``config/monitor.yaml`` by default). ``--demo`` adds the simulated depth camera, ``--evaluate``
scores the events against the simulator's ground truth at the end.

    depth-action-monitor --demo --duration 60
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import rclpy
import yaml
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.parameter import Parameter

from .errors import DepthActionError
from .evaluation import OnlineEvaluator, earliest_alarm_s, format_report
from .node_main import EXECUTORS, executor_kind, init_ros, make_executor, spin_until_shutdown
from .params import read as read_params
from .resources import default_params_file

RECOGNIZER = 'depth_action_recognizer'
CAMERA_SIM = 'depth_action_camera_sim'


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='depth-action-monitor', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--params-file', type=Path, default=None,
                   help='ROS 2 params YAML (default: the packaged config/monitor.yaml)')
    p.add_argument('--demo', action='store_true', help='also run the simulated depth camera')
    p.add_argument('--duration', type=float, default=None, help='stop after this many seconds (default: run until Ctrl-C)')
    p.add_argument('--device', choices=('auto', 'cuda', 'cpu'), default=None, help='override the device parameter')
    p.add_argument('--model', type=Path, default=None, help='override model_path (a .safetensors student)')
    p.add_argument('--scenario', choices=('demo', 'random'), default=None, help='simulated camera scenario (--demo)')
    p.add_argument('--seed', type=int, default=None,
                   help='seed of the simulated camera: subjects, views and random playlists (--demo)')
    p.add_argument('--evaluate', action='store_true', help='score events and alarms against the ground truth (--demo)')
    p.add_argument('--report-json', type=Path, default=None, help='write the --evaluate report here as JSON')
    p.add_argument('--executor', choices=EXECUTORS, default=None,
                   help='rclpy executor (default: events, or $DEPTH_ACTION_EXECUTOR; see node_main.py)')
    p.add_argument('--view', choices=('auto', 'live', 'lines', 'quiet'), default='auto',
                   help='terminal output: live status screen (default on a terminal), one line per message, or none')
    return p


def _check_params_file(path: Path) -> dict:
    if not path.is_file():
        raise DepthActionError(f'params file {path} not found')
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise DepthActionError(f'params file {path} is not valid YAML: {e}') from None
    if not isinstance(doc, dict) or RECOGNIZER not in doc and '/**' not in doc:
        raise DepthActionError(f'params file {path} has no {RECOGNIZER!r} section')
    return doc


def run(args) -> int:
    kind = executor_kind(args.executor)           # a bad $DEPTH_ACTION_EXECUTOR fails before ROS starts
    params_file = args.params_file or default_params_file()
    _check_params_file(params_file)
    from .recognizer_node import RecognizerNode   # torch import: after the cheap checks
    from .events_node import EventsNode

    init_ros(['--ros-args', '--params-file', str(params_file)])
    nodes = []
    executor = make_executor(kind)
    try:
        overrides = []
        if args.model is not None:
            overrides.append(Parameter('model_path', value=str(args.model)))
        if args.device is not None:
            overrides.append(Parameter('device', value=args.device))
        recognizer = RecognizerNode(parameter_overrides=overrides)
        nodes.append(recognizer)
        evaluator = OnlineEvaluator() if args.evaluate else None
        gt_topic = None
        if args.demo:
            from .camera_sim_node import CameraSimNode
            sim_over = [Parameter('scenario', value=args.scenario)] if args.scenario else []
            if args.seed is not None:
                sim_over.append(Parameter('seed', value=args.seed))
            sim = CameraSimNode(parameter_overrides=sim_over)
            missing = set(sim.topics) - set(recognizer.cameras)
            if missing:
                recognizer.get_logger().warning(f'the simulated camera publishes {sorted(missing)}, which the recognizer '
                                                'does not subscribe to (depth_topics)')
            gt_topic = sim.get_parameter('ground_truth_topic').value
            nodes.append(sim)
        view = args.view
        if view == 'auto':
            view = 'live' if sys.stdout.isatty() else 'lines'
        if view != 'quiet' or evaluator:
            nodes.append(EventsNode('quiet' if view == 'quiet' else view, ground_truth_topic=gt_topic,
                                    evaluator=evaluator))
        for n in nodes:
            executor.add_node(n)
        spin_until_shutdown(executor, None if args.duration is None else time.monotonic() + args.duration)
        if evaluator:
            # Scored with the recognizer's own clip timing and the alarm rule in force now (alarm_k may have
            # been changed while it ran).
            st = recognizer.settings
            evaluator.detect_s = earliest_alarm_s(st.clip_length, st.fps, st.stride, recognizer.policy.config.k)
            report = evaluator.report()
            report['duration_s'] = args.duration
            report['clips_skipped'] = sum(c.skipped for c in recognizer.cameras.values())
            report['clips'] = sum(c.clips for c in recognizer.cameras.values())
            # What the figures were measured with, as stream_eval's reports record it: the model, every
            # recognizer parameter in force at the end, and the simulated camera (its world round included).
            report['model'] = recognizer.loaded.short_id
            report['params'] = read_params(recognizer)          # None: never set (alarm_labels: the model's)
            names = sim.list_parameters([], 1).names                  # every parameter the simulator declared
            report['camera'] = {p.name: p.value for p in sim.get_parameters(sorted(names))
                                if p.name != 'use_sim_time'}
            report['world'] = report['camera']['world']
            print(format_report(report), flush=True)
            if args.report_json:
                args.report_json.write_text(json.dumps(report, indent=2))
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    finally:
        for n in nodes:
            executor.remove_node(n)
            n.destroy_node()
        rclpy.try_shutdown()


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        print('depth-action-monitor: error: --duration must be > 0', file=sys.stderr)
        return 2
    if (args.evaluate or args.scenario or args.seed is not None) and not args.demo:
        print('depth-action-monitor: error: --evaluate, --scenario and --seed need --demo', file=sys.stderr)
        return 2
    try:
        return run(args)
    except (DepthActionError, ParameterException, NameValidationException) as e:
        print(f'depth-action-monitor: error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
