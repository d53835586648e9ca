"""Launch the depth action recognizer (and optionally the simulated depth camera) on a ROS 2 install.

    ros2 launch depth_action_recognition monitor.launch.py
    ros2 launch depth_action_recognition monitor.launch.py demo:=true model:=/path/to/student.safetensors
    ros2 launch depth_action_recognition monitor.launch.py lifecycle:=true          # a managed recognizer
    ros2 launch depth_action_recognition monitor.launch.py keystore:=/path/to/keystore   # SROS2 enclaves

Reads the same params file as the pip-world ``depth-action-monitor``. The recognizer is required: when it
exits the launch shuts down, and when it exits with an error (a bad ``model:=`` or parameter) or, managed,
fails to configure, ``ros2 launch`` exits with status 1.
"""
import os

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler,
                            SetEnvironmentVariable, Shutdown)
from launch.event_handlers import OnProcessStart, OnShutdown
from launch.events import matches_action
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.ros_adapters import ROSAdapter
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

PACKAGE = 'depth_action_recognition'


def _flag(context, name):
    return LaunchConfiguration(name).perform(context).strip().lower() in ('true', '1', 'yes', 'on')


def _recognizer_exited(event, context):
    # ros2 launch exits 0 whatever its processes do; a recognizer that could not start must not look like success.
    if context.is_shutdown:     # stopping anyway; a second Shutdown would run launch_ros's handlers twice
        return []
    if event.returncode != 0:
        raise RuntimeError(f'{event.action.node_name} exited with status {event.returncode} (its error is above)')
    return [Shutdown(reason=f'{event.action.node_name} stopped')]


def _first_configure_done(context):
    # Only the transition out of launch's own configure: later ones are an operator's `ros2 lifecycle set`
    # (deactivate, cleanup, configure) and must not be undone by launch re-activating the node.
    event = context.locals.event
    if event.goal_state != 'inactive':
        raise RuntimeError(f'{event.action.node_name} failed to configure (ended {event.goal_state}; '
                           'its error is above)')
    return [EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(event.action),
                                        transition_id=Transition.TRANSITION_ACTIVATE))]


def _use_launch_enclave(context, enclave):
    """Give launch's own ROS node (it drives the lifecycle transitions) an enclave too.

    launch_ros creates that node on first use with rcl's default enclave ``/``; under Enforce it would not
    start, or could not talk to the secured recognizer. An adapter registered first is the one it uses.
    """
    if hasattr(context.locals, 'ros_adapter'):
        return
    adapter = ROSAdapter(argv=['--ros-args', '--enclave', enclave])
    context.extend_globals({'ros_adapter': adapter})
    context.register_event_handler(OnShutdown(on_shutdown=lambda *args, **kwargs: adapter.shutdown()))


def _launch_setup(context):
    keystore = os.path.expanduser(LaunchConfiguration('keystore').perform(context).strip())
    enclaves = LaunchConfiguration('enclaves').perform(context).strip().rstrip('/')

    def secure(node_name):
        # rcl's default enclave is `/`, which the README's keystore does not hold: under
        # ROS_SECURITY_STRATEGY=Enforce no node would start without its own --enclave.
        return {'ros_arguments': ['--enclave', f'{enclaves}/{node_name}']} if keystore else {}

    actions = [SetEnvironmentVariable('ROS_SECURITY_KEYSTORE', keystore)] if keystore else []

    params = [LaunchConfiguration('params_file').perform(context)]
    model = LaunchConfiguration('model').perform(context)
    if model:   # only override model_path when asked, so the params file keeps its say otherwise
        params.append({'model_path': model})
    recognizer = dict(package=PACKAGE, executable='depth-action-recognizer', name='depth_action_recognizer',
                      output='screen', parameters=params, on_exit=_recognizer_exited,
                      **secure('depth_action_recognizer'))
    if _flag(context, 'lifecycle'):
        if keystore:   # after ROS_SECURITY_KEYSTORE is set above, before the node below needs the adapter
            actions.append(OpaqueFunction(function=_use_launch_enclave, args=[f'{enclaves}/launch']))
        node = LifecycleNode(namespace='', arguments=['--lifecycle'], **recognizer)
        configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                                transition_id=Transition.TRANSITION_CONFIGURE))
        actions += [
            node,
            RegisterEventHandler(OnProcessStart(target_action=node, on_start=[configure])),
            RegisterEventHandler(OnStateTransition(target_lifecycle_node=node, start_state='configuring',
                                                   entities=[OpaqueFunction(function=_first_configure_done)],
                                                   handle_once=True)),
        ]
    else:
        actions.append(Node(**recognizer))

    if _flag(context, 'demo'):
        actions += [
            Node(package=PACKAGE, executable='depth-action-camera-sim', name='depth_action_camera_sim',
                 output='screen', parameters=[params[0]], **secure('depth_action_camera_sim')),
            Node(package=PACKAGE, executable='depth-action-events', name='depth_action_events', output='screen',
                 **secure('depth_action_events')),
        ]
    return actions


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), 'config', 'monitor.yaml']),
                              description='ROS 2 params YAML for the recognizer and the camera simulator'),
        DeclareLaunchArgument('model', default_value='',
                              description="student .safetensors; '' = model_path from the params file"),
        DeclareLaunchArgument('demo', default_value='false',
                              description='also start the simulated depth camera and the events printer'),
        DeclareLaunchArgument('lifecycle', default_value='false',
                              description='run the recognizer as a managed node: launch configures and activates '
                                          'it, `ros2 lifecycle set` drives it from there'),
        DeclareLaunchArgument('keystore', default_value=EnvironmentVariable('ROS_SECURITY_KEYSTORE', default_value=''),
                              description='SROS2 keystore; when set, every node runs in the enclave '
                                          "<enclaves>/<node name> (default: $ROS_SECURITY_KEYSTORE; '' = none)"),
        DeclareLaunchArgument('enclaves', default_value='/' + PACKAGE,
                              description='enclave prefix of the nodes when a keystore is given'),
        OpaqueFunction(function=_launch_setup),
    ])
