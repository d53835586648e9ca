"""Test setup: DDS stays on loopback with a per-run domain; helpers build small real checkpoints."""
import os
import random
import signal

# Before anything imports rclpy: never the default SUBNET discovery (it multicasts on the network), and a
# random domain per run so parallel runs on one machine cannot hear each other.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ['ROS_DOMAIN_ID'] = os.environ.get('DAR_TEST_DOMAIN_ID') or str(random.SystemRandom().randint(1, 100))
os.environ.setdefault('RCUTILS_LOGGING_BUFFERED_STREAM', '1')

import pytest  # noqa: E402
import torch  # noqa: E402

from depth_action_recognition.checkpoint import ModelMeta, save_checkpoint  # noqa: E402
from depth_action_recognition.models import StudentConfig, build_student  # noqa: E402
from depth_action_recognition.preprocess import PreprocessSpec  # noqa: E402


def restore_terminal_signals() -> None:
    """A shell without job control starts a background job (`make test &`, some CI runners) with SIGINT and
    SIGQUIT ignored, and every process the suite starts inherits that. `ros2 launch` then never hears the
    SIGINT a test sends it (launch learns of signals through Python's handlers, and Python installs none for
    an ignored signal) and runs on until killed. The tests stand for a user at a terminal, whose Ctrl-C and
    Ctrl-\\ reach every process: give the suite, and so its children (a Python handler becomes the default
    across exec), the usual actions."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGQUIT) is signal.SIG_IGN:
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)


restore_terminal_signals()


LABELS = ['walking', 'sitting_down', 'waving', 'falling_down', 'punching']
ALARMS = ['falling_down', 'punching']


def pytest_addoption(parser):
    parser.addoption('--run-slow', action='store_true', help='also run tests marked slow')


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason='needs a CUDA device')
    skip_slow = pytest.mark.skip(reason='slow: pass --run-slow')
    for item in items:
        if 'cuda' in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_cuda)
        if 'slow' in item.keywords and not config.getoption('--run-slow'):
            item.add_marker(skip_slow)


@pytest.fixture(scope='session')
def ros2_ws():
    """The package built by colcon with the README's own commands, once per session (ros2_workspace.py)."""
    from ros2_workspace import missing_tools, workspace
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    return workspace()


@pytest.fixture
def launched(ros2_ws):
    """Start README lines in ``ros2_ws``; whatever still runs at the end is killed with its whole session."""
    procs = []

    def start(line, **kwargs):
        procs.append(ros2_ws.popen(line, **kwargs))
        return procs[-1]
    yield start
    for proc in procs:
        proc.kill()


def make_checkpoint(path, *, labels=LABELS, alarms=ALARMS, seed=0, spec=None, widths=(8, 8, 16, 16),
                    bias_label=None, head_gain=1.0):
    """A real (untrained) student saved in the runtime format. ``bias_label`` makes that label always win;
    ``head_gain`` scales the classifier's weights (an untrained network scores every clip near uniform)."""
    torch.manual_seed(seed)
    config = StudentConfig(arch='r2plus1d', widths=widths, layers=(1, 1, 1, 1), num_classes=len(labels))
    model = build_student(config)
    with torch.no_grad():
        model.head.weight.mul_(head_gain)
    if bias_label is not None:
        with torch.no_grad():
            model.head.weight.zero_()
            model.head.bias.fill_(-5.0)
            model.head.bias[labels.index(bias_label)] = 5.0
    spec = spec or PreprocessSpec(height=24, width=32, frames=8, fps=10.0)
    meta = ModelMeta(name='test-student', labels=list(labels), alarm_labels=list(alarms), student=config,
                     preprocess=spec, provenance={'made_by': 'test'})
    return save_checkpoint(path, model, meta)


@pytest.fixture
def checkpoint(tmp_path):
    return make_checkpoint(tmp_path / 'student.safetensors')


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """A small rendered paired RGB-D dataset: 3 clips per class, subjects 1-3, views 0-1, 8 frames of 30x40."""
    from depth_action_recognition.synthetic.dataset import write_dataset
    root = tmp_path_factory.mktemp('data') / 'synth'
    write_dataset(root, clips_per_class=3, subjects=[1, 2, 3], views=[0, 1], frames=8, size=(30, 40), seed=1)
    return root


@pytest.fixture(scope='session')
def teacher(tiny_data, tmp_path_factory):
    """An RGB teacher trained for one epoch on ``tiny_data`` (real weights, real file format)."""
    from training import train_teacher
    out = tmp_path_factory.mktemp('teacher')
    rc = train_teacher.main(['--data', str(tiny_data), '--train-subjects', '1-3', '--train-views', '0-1',
                             '--rgb-size', '24x32', '--epochs', '1', '--batch-size', '8', '--device', 'cpu',
                             '--out', str(out)])
    assert rc == 0
    return out / 'teacher.safetensors'
