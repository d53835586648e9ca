"""The package built and run as the README's "On a real ROS 2 install" section says, with the real tools.

The section's bash blocks are the script. Their setup lines (clone, pip, colcon build, source) run once
per test session in a temporary HOME (:func:`workspace`); the tests run their ``ros2 ...`` lines as
written (:data:`README_COMMANDS`, checked against the README both ways, so neither can drift). Two
substitutions only: ``<this repository>`` is a snapshot of this working tree (uncommitted changes are what
is tested), and where ROS 2 comes from the venv rather than a ROS 2 install, the venv is on PATH and on
AMENT_PREFIX_PATH (launch reads its own grammar files from ``share/``).

The tools are the real launch, launch_ros, launch_testing and ros2cli: a ROS 2 install has them, the
pip world gets them from ``../shared/ros2-tools/install.sh .venv`` (the Makefile does it where that folder
exists). Without them the tests that need them skip with :func:`missing_tools`'s reason.
"""
from __future__ import annotations

import atexit
import functools
import importlib.util
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / 'README.md'
SECTION = '## On a real ROS 2 install (colcon)'

LAUNCH = 'ros2 launch depth_action_recognition monitor.launch.py'
# Every `ros2` line of the section's blocks, by what the tests call it; each is run by a test as written.
README_COMMANDS = {
    'launch': LAUNCH,
    'demo': f'{LAUNCH} demo:=true',
    'overrides': f'{LAUNCH} params_file:=my.yaml model:=my_student.safetensors',
    'run_recognizer': 'ros2 run depth_action_recognition depth-action-recognizer --ros-args --params-file my.yaml '
                      '-p model_path:=my_student.safetensors',
    'run_events': 'ros2 run depth_action_recognition depth-action-events --mode lines',
    'param_set': 'ros2 param set /depth_action_recognizer score_threshold 0.8',
    'param_describe': 'ros2 param describe /depth_action_recognizer score_threshold alarm_k alarm_n clear_after_s '
                      'cooldown_s',
    'lifecycle_launch': f'{LAUNCH} demo:=true lifecycle:=true',
    'lifecycle_get': 'ros2 lifecycle get /depth_action_recognizer',
    'deactivate': 'ros2 lifecycle set /depth_action_recognizer deactivate',
    'activate': 'ros2 lifecycle set /depth_action_recognizer activate',
    'cleanup': 'ros2 lifecycle set /depth_action_recognizer cleanup',
    'configure': 'ros2 lifecycle set /depth_action_recognizer configure',
    'secure_launch': f'{LAUNCH} demo:=true lifecycle:=true',
    'secure_operator': 'ROS_SECURITY_ENCLAVE_OVERRIDE=/depth_action_recognition/operator '
                       'ros2 lifecycle get /depth_action_recognizer',
}


def missing_tools() -> str | None:
    """Why the real ROS 2 tools cannot run here, or None when they can."""
    missing = [m for m in ('launch', 'launch_ros', 'launch_testing', 'ros2cli') if importlib.util.find_spec(m) is None]
    missing += [exe for exe in ('ros2', 'colcon') if _which(exe) is None]
    if not missing:
        return None
    return (f'needs the ROS 2 launch and command-line tools ({", ".join(missing)} missing): source a ROS 2 '
            'install, or install them into the venv with ../shared/ros2-tools/install.sh .venv')


def _which(exe: str) -> str | None:
    return shutil.which(exe, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get('PATH', '')]))


# ------------------------------------------------------------------------------------------------ README
def readme_blocks(text: str | None = None) -> list[list[str]]:
    """The ```bash blocks of the README's ROS 2 section, as lines with `\\`-continuations joined."""
    text = README.read_text() if text is None else text
    section = text.split(SECTION, 1)[1]
    section = re.split(r'^## ', section, maxsplit=1, flags=re.M)[0]
    blocks = re.findall(r'^```bash\n(.*?)^```', section, flags=re.S | re.M)
    return [[ln for ln in block.replace('\\\n', ' ').splitlines() if ln.strip()] for block in blocks]


def without_comment(line: str) -> str:
    return ' '.join(shlex.split(line, comments=True))


def readme_command_lines() -> list[str]:
    """Every line of the section's blocks that runs a ROS 2 tool, comments stripped."""
    out = []
    for block in readme_blocks():
        for line in block:
            words = shlex.split(line, comments=True)
            if any(w == 'ros2' for w in words) and 'security' not in words:
                out.append(' '.join(words))
    return out


def setup_lines() -> list[str]:
    """The first block's lines before its first `ros2` command: clone, install, build, source."""
    first = readme_blocks()[0]
    lines = []
    for line in first:
        if line.lstrip().startswith('ros2 '):
            break
        lines.append(line)
    return lines


def security_recipe() -> list[str]:
    """The SROS2 block of the section (the one that creates the keystore)."""
    return next(b for b in readme_blocks() if any('create_keystore' in ln for ln in b))


def command(key: str) -> str:
    line = README_COMMANDS[key]
    assert line in readme_command_lines(), f'the README no longer says: {line}'
    return line


# ------------------------------------------------------------------------------------------- workspace
@dataclass
class Workspace:
    home: Path          # the temporary HOME: ~/ros2_ws lives here, and the nodes' ~/.ros logs
    cwd: Path           # where the README's setup lines leave the shell (~/ros2_ws)
    env: dict           # the environment after `source install/setup.bash`
    share: Path         # the installed share/depth_action_recognition

    def popen(self, line: str, *, env: dict | None = None, cwd: Path | None = None) -> 'Proc':
        """Start a README line (leading VAR=value words go to the environment, as in a shell)."""
        words = shlex.split(line, comments=True)
        run_env = dict(self.env if env is None else env)
        while words and re.match(r'^[A-Z_][A-Z0-9_]*=', words[0]):
            name, value = words.pop(0).split('=', 1)
            run_env[name] = value
        return Proc(words, env=run_env, cwd=cwd or self.cwd)

    def run(self, line: str, *, timeout: float = 60, env: dict | None = None) -> 'Proc':
        proc = self.popen(line, env=env)
        proc.wait(timeout)
        return proc


class Proc:
    """A process in a session of its own, its output (stdout + stderr) collected line by line."""

    def __init__(self, argv, *, env, cwd):
        self.argv = argv
        self.popen = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.popen.stdout:
            self.lines.append(line.rstrip('\n'))

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    @property
    def output(self) -> str:
        return '\n'.join(self.lines)

    def wait(self, timeout: float) -> int:
        rc = self.popen.wait(timeout)
        # The process has ended but its last lines may still be in the pipe: under load the reader thread can
        # wait long for the GIL, and an output read too early looks like a process that said nothing.
        self._reader.join(30)
        return rc

    def wait_for_output(self, pattern: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.output):
                return True
            if self.popen.poll() is not None:
                self._reader.join(30)
                return bool(re.search(pattern, self.output))
            time.sleep(0.1)
        return False

    def descendants(self):
        import psutil
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def interrupt(self, *, group: bool = False) -> None:
        """SIGINT to the process (what `ros2 launch` must pass on), or to its group (a terminal's Ctrl-C)."""
        if group:
            os.killpg(self.pid, signal.SIGINT)
        else:
            self.popen.send_signal(signal.SIGINT)

    def kill(self) -> None:
        """Whatever is left of the session (a failed test must not leave nodes running)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()
        self._reader.join(30)


def _snapshot(dest: Path) -> Path:
    """A git repository holding this working tree as it is (tracked and untracked, not ignored files)."""
    dest.mkdir(parents=True)
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=ROOT,
                            capture_output=True)
    if listed.returncode == 0:
        for name in listed.stdout.decode().split('\0'):
            src = ROOT / name
            if name and src.is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / name)
    else:   # not a git checkout (an unpacked archive)
        shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            '.git', '.venv', 'build', 'install', 'log', 'data', 'runs', '__pycache__', '*.egg-info', '.*cache'))
    git = ['git', '-c', 'user.name=tests', '-c', 'user.email=tests@invalid', '-c', 'commit.gpgsign=false']
    for args in (['init', '-q'], ['add', '-A'], ['commit', '-q', '-m', 'working tree under test']):
        subprocess.run(git + args, cwd=dest, check=True, capture_output=True)
    return dest


@functools.cache
def workspace() -> Workspace:
    """Run the README's setup lines once per process: a colcon build in a temporary ~/ros2_ws."""
    root = Path(tempfile.mkdtemp(prefix='dar-ros2-'))
    home = root / 'home'
    home.mkdir()
    env = dict(os.environ, HOME=str(home), PYTHONUNBUFFERED='1')
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
    prefixes = [p for p in env.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    if (Path(sys.prefix) / 'share' / 'ament_index').is_dir() and sys.prefix not in prefixes:
        prefixes.append(sys.prefix)         # the venv-specific part: a ROS 2 install sets this itself
    env['AMENT_PREFIX_PATH'] = os.pathsep.join(prefixes)
    script = '\n'.join(setup_lines()).replace('<this repository>', shlex.quote(str(_snapshot(root / 'repo'))))
    state = root / 'state'
    done = subprocess.run(['bash', '-e', '-c', f'{script}\npwd > {state}.cwd\nenv -0 > {state}.env'],
                          cwd=home, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the README's setup lines failed (status {done.returncode}):\n{script}\n"
                           f'{done.stdout[-3000:]}\n{done.stderr[-3000:]}')
    built = dict(kv.split('=', 1) for kv in Path(f'{state}.env').read_text().split('\0') if '=' in kv)
    cwd = Path(Path(f'{state}.cwd').read_text().strip())
    share = cwd / 'install' / 'depth_action_recognition' / 'share' / 'depth_action_recognition'
    atexit.register(_cleanup, root, built)
    return Workspace(home=home, cwd=cwd, env=built, share=share)


def _cleanup(root: Path, env: dict) -> None:
    # `ros2 param/lifecycle` start a daemon that would otherwise outlive the tests by two hours.
    subprocess.run(['ros2', 'daemon', 'stop'], env=env, capture_output=True, timeout=30, check=False)
    shutil.rmtree(root, ignore_errors=True)


def env_overrides(ws: Workspace) -> dict:
    """What the workspace's environment changes relative to this process's (for launch_testing)."""
    return {k: v for k, v in ws.env.items() if os.environ.get(k) != v and not k.startswith(('BASH_FUNC_', '_'))
            and k not in ('SHLVL', 'OLDPWD', 'PWD')}


# ------------------------------------------------------------------------------------------ test doubles
def person_frames(n: int, h: int = 48, w: int = 64) -> np.ndarray:
    """16UC1 frames of a box-shaped 'person' sliding across a wall 3 m away."""
    rng = np.random.default_rng(0)
    frames = np.full((n, h, w), 3000, np.uint16)
    for i in range(n):
        x = 10 + i % 30
        frames[i, 10:40, x:x + 12] = 1500 + rng.integers(0, 20, (30, 12))
    return frames


class FrameStream:
    """A stand-in depth camera: publishes 16UC1 frames at ``fps`` from a thread until stopped (reliable)."""

    def __init__(self, harness, topic: str, fps: float = 30.0):
        from sensor_msgs.msg import Image
        from ros_helpers import reliable_qos
        self.harness, self.fps = harness, fps
        self.pub = harness.probe.create_publisher(Image, topic, reliable_qos())
        self.frames = person_frames(60)
        self.sent = 0
        self._on = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        from ros_helpers import depth_msg
        next_t = time.monotonic()
        while not self._stop.is_set():
            if self._on.wait(0.1):
                self.pub.publish(depth_msg(self.frames[self.sent % len(self.frames)], time.time()))
                self.sent += 1
                next_t = max(next_t + 1.0 / self.fps, time.monotonic() - 1.0)
                time.sleep(max(0.0, next_t - time.monotonic()))

    def start(self):
        self._on.set()
        return self

    def pause(self):
        self._on.clear()

    def close(self):
        self._stop.set()
        self._on.set()
        self._thread.join(5)


def user_files(ws: Workspace):
    """The `my.yaml` and `my_student.safetensors` the README's lines name, in ~/ros2_ws where they run.

    my.yaml: the shipped params file with one camera on /test_cam/depth, the CPU, an event per sampled
    frame (stride 1) and top_k 2; my_student: every clip is falling_down at 0.7.
    """
    import yaml
    params, student = ws.cwd / 'my.yaml', ws.cwd / 'my_student.safetensors'
    if not params.exists():
        doc = yaml.safe_load((ws.share / 'config' / 'monitor.yaml').read_text())
        doc['depth_action_recognizer']['ros__parameters'].update(
            depth_topics=['/test_cam/depth'], device='cpu', stride=1, top_k=2)
        params.write_text(yaml.safe_dump(doc))
        scored_student(student, label='falling_down', score=0.7)
    return params, student


def scored_student(path, *, label: str, score: float):
    """A real student whose every clip is ``label`` with probability ``score`` (its head ignores the features).

    A known score makes threshold changes observable: 0.7 counts towards an alarm at the default
    threshold 0.6 and not at 0.8.
    """
    import torch
    from conftest import ALARMS, LABELS, make_checkpoint
    from depth_action_recognition.checkpoint import load_checkpoint, save_checkpoint
    make_checkpoint(path)
    loaded = load_checkpoint(path)
    model = loaded.model
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.bias[LABELS.index(label)] = math.log(score * (len(LABELS) - 1) / (1.0 - score))
    assert label in ALARMS
    return save_checkpoint(path, model, loaded.meta)
