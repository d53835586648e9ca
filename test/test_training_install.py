"""The training package as installed (not from a checkout): data files, and imports without a cycle."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('module', ['training.ntu', 'training.folder', 'training.data', 'training.benchmarks'])
def test_each_data_module_imports_on_its_own(module):
    """data.py imports the sources at the top: a source importing data.py back would fail right here."""
    r = subprocess.run([sys.executable, '-c', f'import {module}'], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_the_sources_do_not_import_training_data():
    for name in ('ntu.py', 'folder.py', 'errors.py', 'rosbag_convert.py'):
        tree = ast.parse((ROOT / 'training' / name).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert 'training.data' not in imported, name
    from training.data import DataError
    from training.errors import DataError as same
    assert DataError is same


CHILD = '''
import json, training, depth_action_recognition
from training.ntu import label_preset
from training import export
print(json.dumps({'training': training.__file__, 'labels': label_preset(120)['labels'][42],
                  'models': str(export.MODELS)}))
'''


def install_wheel(wheel: Path, prefix: Path) -> Path:
    """Lay a pure wheel out under ``prefix`` as an installer does: packages into site-packages, the data
    files (share/...) into the prefix. (Not ``pip install --prefix``: that uninstalls the running
    environment's own copy of the project first.)"""
    import zipfile
    site = prefix / 'lib' / f'python{sys.version_info.major}.{sys.version_info.minor}' / 'site-packages'
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            head, _, rest = name.partition('/')
            if head.endswith('.data'):
                scheme, _, rel = rest.partition('/')
                target = prefix / rel if scheme == 'data' else site / rel
            else:
                target = site / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
    return site


def test_an_installed_training_package_finds_the_label_presets_and_models(tmp_path):
    """A non-editable install: config/ and models/ are in <prefix>/share/depth_action_recognition, not next to
    the code, as colcon and pip lay them out."""
    import shutil
    # A copy to build from: pip builds in the tree it is given, and this checkout stays untouched.
    src, prefix = tmp_path / 'src', tmp_path / 'prefix'
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns('.git', '.venv', 'build', 'data', 'runs', '*.egg-info',
                                                             '__pycache__', '.pytest_cache', 'bench', 'docs'))
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
                        '-w', str(tmp_path / 'wheel'), str(src)],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, PIP_NO_INDEX='1'))
    assert r.returncode == 0, r.stderr[-3000:]
    site = install_wheel(next((tmp_path / 'wheel').glob('*.whl')), prefix)
    share = prefix / 'share' / 'depth_action_recognition'
    env = dict(os.environ, PYTHONPATH=str(site), AMENT_PREFIX_PATH=str(prefix))
    r = subprocess.run([sys.executable, '-c', CHILD], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    import json
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out['training'].startswith(str(site))                  # the installed copy, not this checkout
    assert out['labels'] == 'falling' and out['models'] == str(share / 'models')
