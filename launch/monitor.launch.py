"""Launch the depth action recognizer (and optionally the simulated depth camera) on a ROS 2 install.

    ros2 launch depth_action_recognition monitor.launch.py
    ros2 launch depth_action_recognition monitor.launch.py demo:=true model:=/path/to/student.safetensors

Reads the same params file as the pip-world ``depth-action-monitor``.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def _recognizer(context):
    params = [LaunchConfiguration('params_file').perform(context)]
    model = LaunchConfiguration('model').perform(context)
    if model:   # only override model_path when asked, so the params file keeps its say otherwise
        params.append({'model_path': model})
    return [Node(package='depth_action_recognition', executable='depth-action-recognizer',
                 name='depth_action_recognizer', output='screen', parameters=params)]


def generate_launch_description():
    share = get_package_share_directory('depth_action_recognition')
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'monitor.yaml'),
                              description='ROS 2 params YAML for the recognizer and the camera simulator'),
        DeclareLaunchArgument('model', default_value='',
                              description="student .safetensors; '' = model_path from the params file"),
        DeclareLaunchArgument('demo', default_value='false', description='also start the simulated depth camera'),
        OpaqueFunction(function=_recognizer),
        Node(package='depth_action_recognition', executable='depth-action-camera-sim',
             name='depth_action_camera_sim', output='screen', parameters=[LaunchConfiguration('params_file')],
             condition=IfCondition(LaunchConfiguration('demo'))),
        Node(package='depth_action_recognition', executable='depth-action-events',
             name='depth_action_events', output='screen',
             condition=IfCondition(LaunchConfiguration('demo'))),
    ])
