"""The managed recognizer under `monitor.launch.py lifecycle:=true demo:=true`, as a launch_testing test.

Launch must configure and then activate the recognizer (and nothing more); the README's `ros2 lifecycle`
lines then move it while the simulated camera keeps publishing: no events while inactive or unconfigured,
events again after activate. After shutdown every process has exited with status 0.
"""
import time
import unittest

import pytest

launch_testing = pytest.importorskip(
    'launch_testing', reason='needs launch_testing: a ROS 2 install, or ../shared/ros2-tools/install.sh .venv')
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import GroupAction, IncludeLaunchDescription, SetEnvironmentVariable  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from ros2_workspace import command, env_overrides, missing_tools, workspace  # noqa: E402
from ros_helpers import RosHarness, reliable_qos  # noqa: E402


@pytest.mark.launch_test
def generate_test_description():
    reason = missing_tools()
    if reason:
        raise RuntimeError(reason)
    ws = workspace()            # the session's one colcon build (the ros2_ws fixture's)
    monitor = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(ws.share / 'launch' / 'monitor.launch.py')),
        launch_arguments={'demo': 'true', 'lifecycle': 'true'}.items())
    return LaunchDescription([
        # The sourced workspace's environment for the include and the nodes it starts; scoped, so this
        # process's own environment is back as it was once they have started.
        GroupAction([*(SetEnvironmentVariable(k, v) for k, v in env_overrides(ws).items()), monitor], scoped=True),
        launch_testing.actions.ReadyToTest(),
    ]), {'ws': ws}


class TestManagedRecognizer(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.ros = RosHarness()
        cls.events = cls.ros.collect(String, '/action_events')
        cls.frames = cls.ros.collect(Image, '/camera/depth/image_raw', reliable_qos(10))

    @classmethod
    def tearDownClass(cls):
        cls.ros.close()

    def lifecycle(self, ws, key):
        proc = ws.run(command(key), timeout=60)
        self.assertEqual(proc.returncode, 0, proc.output)
        return proc.output.strip()

    def state(self, ws):
        return self.lifecycle(ws, 'lifecycle_get').split()[0]

    def wait_for_state(self, ws, state, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = ws.run(command('lifecycle_get'), timeout=60)     # 'Node not found' while it starts
            if proc.returncode == 0 and proc.output.split()[0] == state:
                return
            time.sleep(1.0)
        self.fail(f'not {state} after {timeout} s: {proc.output}')

    def transition(self, ws, key):
        self.assertEqual(self.lifecycle(ws, key), 'Transitioning successful')

    def assert_quiet(self, seconds=3.0):
        """No events while frames keep arriving (after a moment for clips already in inference)."""
        time.sleep(1.0)
        events, frames = len(self.events), len(self.frames)
        time.sleep(seconds)
        self.assertGreater(len(self.frames) - frames, 10 * seconds, 'the camera stopped: nothing is shown')
        self.assertEqual(len(self.events), events, 'events while the recognizer was not active')

    def assert_events_resume(self):
        n = len(self.events)
        self.assertTrue(self.ros.wait_for(lambda: len(self.events) >= n + 3, 20), 'events did not resume')

    def test_0_launch_configures_and_activates_it(self, ws):
        self.wait_for_state(ws, 'active', 90)
        self.assert_events_resume()

    def test_1_transitions_while_frames_flow(self, ws):
        self.transition(ws, 'deactivate')
        self.assertEqual(self.state(ws), 'inactive')
        self.assert_quiet()
        self.transition(ws, 'activate')
        self.assert_events_resume()

        self.transition(ws, 'deactivate')
        self.transition(ws, 'cleanup')
        self.assertEqual(self.state(ws), 'unconfigured')
        self.transition(ws, 'configure')
        self.assert_quiet(2.0)
        self.assertEqual(self.state(ws), 'inactive', 'launch activated the node again after an operator configure')
        self.transition(ws, 'activate')
        self.assert_events_resume()
        self.assertEqual(self.state(ws), 'active')


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_every_process_exited_cleanly(self, proc_info):
        self.assertEqual(len(proc_info.process_names()), 3)
        launch_testing.asserts.assertExitCodes(proc_info)
