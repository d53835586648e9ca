"""`ros2 launch` of the colcon-built package, run as the README says: real cameras, the demo, overrides,
a bad model, SROS2 enclaves. Real processes, real DDS; the test process is the camera or the listener."""
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from std_msgs.msg import String

from depth_action_recognition.checkpoint import load_checkpoint
from ros2_workspace import README_COMMANDS, FrameStream, command, readme_command_lines, security_recipe, user_files
from ros_helpers import RosHarness

RECOGNIZER = '[depth-action-recognizer-1]'


@pytest.fixture
def ros():
    h = RosHarness()
    yield h
    h.close()


def started_pids(proc):
    return [int(p) for p in re.findall(r'process started with pid \[(\d+)\]', proc.output)]


def assert_sigint_stops_everything(proc, n_processes):
    """SIGINT to `ros2 launch` alone: it must pass it on, and every process it started ends with 0 in 10 s."""
    import psutil                   # comes with the ROS 2 tools
    pids = started_pids(proc)
    assert len(pids) == n_processes, proc.output[-3000:]
    t0 = time.monotonic()
    proc.interrupt()
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:       # say which of its processes hold it up, and what they last said
        def running(pid):
            try:
                return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return False
        alive = [p for p in pids if running(p)]
        pytest.fail(f'ros2 launch still running 10 s after SIGINT; of its processes {pids} these run on: {alive}\n'
                    + proc.output[-3000:])
    assert rc == 0, proc.output[-3000:]
    gone, alive = psutil.wait_procs([psutil.Process(p) for p in pids if psutil.pid_exists(p)],
                                    timeout=max(0.0, t0 + 10 - time.monotonic()))
    assert not alive, f'still running 10 s after SIGINT: {alive}'
    for pid in pids:
        # launch reaped them: its report is the only record of a grandchild's exit status
        assert re.search(rf'process has finished cleanly \[pid {pid}\]', proc.output), proc.output[-3000:]


def node_enclaves(ros, names, timeout=60):
    want = set(names)
    found = {}

    def all_seen():
        found.update({n: e for n, ns, e in ros.probe.get_node_names_and_namespaces_with_enclaves() if n in want})
        return set(found) == want
    assert ros.wait_for(all_seen, timeout, period=0.5), f'nodes seen: {found}'
    return found


def test_processes_the_suite_starts_take_sigint_as_a_terminal_does():
    """The SIGINT tests below model Ctrl-C at a terminal. A suite started as a background job by a shell
    without job control inherits SIGINT and SIGQUIT ignored, and so would `ros2 launch`, which then never
    stops; conftest.restore_terminal_signals gives them back their usual actions. Checked in this suite and
    in a process that starts with both ignored, as such a suite does."""
    probe = ('import signal, sys; sys.exit(0 if signal.getsignal(signal.SIGINT) is signal.default_int_handler '
             'and signal.getsignal(signal.SIGQUIT) is signal.SIG_DFL else 1)')
    assert subprocess.run([sys.executable, '-c', probe], timeout=60).returncode == 0
    started_ignoring = (
        'import signal, subprocess, sys\n'
        'signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGQUIT, signal.SIG_IGN)\n'
        'sys.path.insert(0, sys.argv[1])\n'
        'import conftest\n'               # what pytest does first: the reset must come with the import
        'sys.exit(subprocess.run([sys.executable, "-c", sys.argv[2]]).returncode)\n')
    here = str(Path(__file__).resolve().parent)
    assert subprocess.run([sys.executable, '-c', started_ignoring, here, probe], timeout=120).returncode == 0


def test_readme_section_is_what_the_tests_run():
    """Each `ros2` line of the README's ROS 2 section is one a test runs, and each line a test runs is there."""
    assert sorted(set(readme_command_lines())) == sorted(set(README_COMMANDS.values()))


def test_real_cameras_line_serves_a_camera(ros2_ws, ros, launched):
    events = ros.collect(String, '/action_events')
    proc = launched(command('launch'))
    camera = FrameStream(ros, '/camera/depth/image_raw')
    try:
        assert ros.wait_for(lambda: camera.pub.get_subscription_count() >= 1, 60), proc.output[-3000:]
        camera.start()
        assert ros.wait_for(lambda: len(events) >= 3, 30), proc.output[-3000:]
        ev = json.loads(events[-1].data)
        assert ev['camera'] == '/camera/depth/image_raw' and ev['model'].startswith('default@')
        assert_sigint_stops_everything(proc, 1)
    finally:
        camera.close()


def test_demo_line_raises_an_alarm_and_stops_on_sigint(ros2_ws, ros, launched):
    events, alarms = ros.collect(String, '/action_events'), ros.collect(String, '/action_alarms')
    t0 = time.monotonic()
    proc = launched(command('demo'))
    raised = lambda: any(json.loads(a.data)['state'] == 'raised' for a in alarms)   # noqa: E731
    assert ros.wait_for(lambda: events and raised(), 60), \
        f'{len(events)} events, {len(alarms)} alarms in 60 s\n{proc.output[-3000:]}'
    print(f'first alarm {time.monotonic() - t0:.1f} s after ros2 launch started')
    # No keystore: no --enclave, so rcl's default enclave.
    assert set(node_enclaves(ros, ['depth_action_recognizer', 'depth_action_camera_sim']).values()) == {'/'}
    assert_sigint_stops_everything(proc, 3)


def test_params_file_and_model_overrides(ros2_ws, ros, launched):
    _, student = user_files(ros2_ws)
    events = ros.collect(String, '/action_events')
    proc = launched(command('overrides'))
    camera = FrameStream(ros, '/test_cam/depth')            # the topic my.yaml names
    try:
        assert ros.wait_for(lambda: camera.pub.get_subscription_count() >= 1, 60), proc.output[-3000:]
        camera.start()
        assert ros.wait_for(lambda: len(events) >= 2, 30), proc.output[-3000:]
        ev = json.loads(events[-1].data)
        assert ev['camera'] == '/test_cam/depth'
        assert ev['model'] == load_checkpoint(student).short_id          # model:= beat my.yaml's model_path ''
        assert len(ev['top_k']) == 2                                     # my.yaml's top_k, not the default 3
        assert (ev['label'], round(ev['score'], 2)) == ('falling_down', 0.7)
        assert_sigint_stops_everything(proc, 1)
    finally:
        camera.close()


@pytest.mark.parametrize('managed', [False, True], ids=['plain', 'lifecycle'])
def test_bad_model_fails_the_launch_with_its_one_line_error(ros2_ws, launched, managed):
    user_files(ros2_ws)
    line = command('overrides').replace('model:=my_student.safetensors', 'model:=missing.safetensors')
    proc = launched(line + (' lifecycle:=true' if managed else ''))
    assert proc.wait(timeout=60) == 1, proc.output[-3000:]
    said = [ln for ln in proc.lines if ln.startswith(RECOGNIZER)]
    assert 'Traceback' not in proc.output
    errors = [ln for ln in said if 'error' in ln.lower()]
    assert len(errors) == 1 and 'missing.safetensors' in errors[0], said
    why = 'failed to configure' if managed else 'exited with status 2'
    assert f'depth_action_recognizer {why}' in proc.output, proc.output[-3000:]


def test_security_recipe_puts_every_node_in_its_enclave(ros2_ws, ros, launched):
    """The recipe's enclaves are the ones the launched nodes (and launch's own node) report in the graph.

    Security itself stays off (ROS_SECURITY_ENABLE unset): the wheels' Fast DDS has no security plugins,
    and `ros2 security` is not available to make the keystore; the enclave a node asks for is all there is
    to check here.
    """
    recipe = security_recipe()
    created = [shlex.split(ln)[-1] for ln in recipe if 'create_enclave' in ln]
    exported = dict(w.split('=', 1) for ln in recipe if ln.startswith('export ') for w in shlex.split(ln)[1:])
    keystore = exported['ROS_SECURITY_KEYSTORE'].replace('~', str(ros2_ws.home), 1)
    env = dict(ros2_ws.env, ROS_SECURITY_KEYSTORE=keystore)
    assert command('secure_launch') in [' '.join(shlex.split(ln, comments=True)) for ln in recipe]
    proc = launched(command('secure_launch'), env=env)
    nodes = ['depth_action_recognizer', 'depth_action_camera_sim', 'depth_action_events']
    enclaves = node_enclaves(ros, nodes)
    assert enclaves == {n: f'/depth_action_recognition/{n}' for n in nodes}
    launch_node = [e for n, ns, e in ros.probe.get_node_names_and_namespaces_with_enclaves()
                   if n == f'launch_ros_{proc.pid}']
    assert launch_node == ['/depth_action_recognition/launch']
    operator = command('secure_operator')
    assert operator.split()[0].split('=', 1)[1] in created
    assert sorted(set(enclaves.values()) | set(launch_node) | {operator.split()[0].split('=', 1)[1]}) == sorted(created)
    # launch's own node, in its enclave, still drives the managed recognizer to active
    deadline = time.monotonic() + 90
    while not (state := ros2_ws.run(operator, env=env).output).startswith('active') and time.monotonic() < deadline:
        time.sleep(1.0)
    assert state.startswith('active'), state
    assert_sigint_stops_everything(proc, 3)


def test_enforce_refuses_a_node_whose_enclave_is_missing(ros2_ws, launched, tmp_path):
    """Under Enforce, rcl looks up exactly the enclave the launch file passes, and the launch fails."""
    keystore = tmp_path / 'keystore'
    (keystore / 'enclaves').mkdir(parents=True)
    env = dict(ros2_ws.env, ROS_SECURITY_ENABLE='true', ROS_SECURITY_STRATEGY='Enforce')
    proc = launched(f'{command("launch")} keystore:={keystore}', env=env)
    assert proc.wait(timeout=60) == 1, proc.output[-3000:]
    assert f"'{keystore}/enclaves/depth_action_recognition/depth_action_recognizer' does not exist" in proc.output, \
        proc.output[-3000:]
