"""Packaging: colcon/ament metadata, console scripts, launch file and params file agree with each other."""
import ast
import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from depth_action_recognition import camera_sim_node
from depth_action_recognition.params import PARAMS

ROOT = Path(__file__).resolve().parents[1]


def setup_entry_points():
    tree = ast.parse((ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == 'entry_points':
            scripts = ast.literal_eval(node.value)['console_scripts']
            return dict(re.match(r'\s*([\w-]+)\s*=\s*([\w.]+):(\w+)', s).groups()[:2] for s in scripts)
    raise AssertionError('no entry_points in setup.py')


def test_package_xml_is_ament_python_format_3():
    root = ET.parse(ROOT / 'package.xml').getroot()
    assert root.attrib['format'] == '3' and root.findtext('name') == 'depth_action_recognition'
    assert root.find('export/build_type').text == 'ament_python'
    deps = {e.text for e in root.findall('exec_depend')}
    assert {'rclpy', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs'} <= deps
    assert (ROOT / 'resource' / 'depth_action_recognition').is_file()
    cfg = (ROOT / 'setup.cfg').read_text()
    assert 'install_scripts=$base/lib/depth_action_recognition' in cfg


def test_console_scripts_resolve_to_main_functions():
    eps = setup_entry_points()
    assert {'depth-action-monitor', 'depth-action-recognizer', 'depth-action-camera-sim',
            'depth-action-events'} <= set(eps)
    for module in eps.values():
        assert callable(importlib.import_module(module).main)


def test_launch_file_matches_executables_and_params_file():
    text = (ROOT / 'launch' / 'monitor.launch.py').read_text()
    executables = set(re.findall(r"executable='([\w-]+)'", text))
    names = set(re.findall(r"name='(\w+)'", text))
    assert executables <= set(setup_entry_points())
    params = yaml.safe_load((ROOT / 'config' / 'monitor.yaml').read_text())
    assert {'depth_action_recognizer', 'depth_action_camera_sim'} <= names
    assert set(params) <= names
    assert "'params_file'" in text and "'model'" in text


def test_params_file_only_sets_declared_parameters():
    params = yaml.safe_load((ROOT / 'config' / 'monitor.yaml').read_text())
    recognizer = params['depth_action_recognizer']['ros__parameters']
    assert set(recognizer) <= set(PARAMS)
    src = Path(camera_sim_node.__file__).read_text()
    declared = set(re.findall(r"declare_parameter\('(\w+)'", src))
    assert set(params['depth_action_camera_sim']['ros__parameters']) <= declared


def test_params_file_writes_the_declared_defaults_so_a_node_without_it_behaves_the_same():
    """The packaged values (threshold, cooldown, smoothing...) are written both in config/monitor.yaml and in
    params.PARAMS: one changed alone would make a node started without the file behave unlike the documented
    configuration. Of the declared type too: rclpy refuses a 3 for a double parameter."""
    from rclpy.parameter import Parameter

    recognizer = yaml.safe_load((ROOT / 'config' / 'monitor.yaml').read_text())['depth_action_recognizer']
    differ = {k: (v, PARAMS[k].default) for k, v in recognizer['ros__parameters'].items()
              if v != PARAMS[k].default or Parameter.Type.from_parameter_value(v).name != PARAMS[k].type}
    assert not differ, differ


def test_launch_description_builds_when_launch_ros_is_installed():
    if importlib.util.find_spec('launch_ros') is None:
        pytest.skip('launch_ros is not installable in the pip world; checked statically above')
    spec = importlib.util.spec_from_file_location('monitor_launch', ROOT / 'launch' / 'monitor.launch.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.generate_launch_description().entities
