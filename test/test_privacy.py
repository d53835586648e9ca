"""The privacy promise, statically: no runtime code path writes files or subscribes to colour.

The file-write scan reads the runtime package's syntax trees (not its text): calls of the writing APIs of
Python, pathlib, numpy, OpenCV, torch, PIL, pickle/json, shutil, os and tempfile, and every ``open``
whose mode could write. A few functions write on purpose and are allowed by name; each must still
contain a write, so the list cannot go stale. The scanner is itself tested on snippets of each kind.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / 'depth_action_recognition'

# Names that only ever write, whatever they are called on.
WRITERS = {'imwrite', 'imwritemulti', 'VideoWriter', 'save', 'savez', 'savez_compressed', 'savetxt', 'tofile',
           'write_bytes', 'write_text', 'save_file', 'memmap', 'open_memmap', 'mkstemp', 'mkdtemp',
           'NamedTemporaryFile', 'TemporaryFile', 'SpooledTemporaryFile', 'TemporaryDirectory', 'touch', 'mkdir',
           'makedirs', 'symlink_to', 'hardlink_to', 'to_csv', 'to_parquet', 'to_pickle'}
# module.function calls that write (names too common to flag on any object).
MODULE_WRITERS = {'shutil': {'copy', 'copy2', 'copyfile', 'copytree', 'move', 'copyfileobj'},
                  'os': {'rename', 'replace', 'link', 'symlink', 'mkfifo', 'write', 'truncate', 'ftruncate'},
                  'pickle': {'dump'}, 'json': {'dump'}, 'yaml': {'dump', 'safe_dump'}, 'marshal': {'dump'}}
# open-like calls: module.function -> position of the mode argument (builtin open and io.open: 1).
OPENERS = {('', 'open'): 1, ('io', 'open'): 1, ('codecs', 'open'): 1, ('gzip', 'open'): 1, ('bz2', 'open'): 1,
           ('lzma', 'open'): 1, ('tarfile', 'open'): 1, ('wave', 'open'): 1, ('os', 'fdopen'): 1,
           ('zipfile', 'ZipFile'): 1, ('h5py', 'File'): 1}
MODULES = set(MODULE_WRITERS) | {m for m, _ in OPENERS} | {'np', 'numpy', 'cv2', 'torch', 'io', 'tempfile', 'sys'}

# Functions that write on purpose: saving a trained model (training calls it), and the --report-json of
# the monitor and of the offline streaming evaluation (text reports of scores). Whole modules: the
# offline synthetic-data tools. And files.atomic_path, which makes a folder and renames a file its caller
# wrote: the writes themselves stay in the callers, where this scan sees them.
ALLOWED_FUNCTIONS = {('checkpoint.py', 'save_checkpoint'), ('monitor.py', 'run'), ('stream_eval.py', 'main'),
                     ('files.py', 'atomic_path')}
ALLOWED_MODULES = {'synthetic/dataset.py', 'synthetic/preview.py'}


def _dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f'{base}.{node.attr}' if base else None
    return None


def _writes_mode(mode) -> bool:
    if mode is None:
        return False                                   # default mode: read
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in 'wax+')
    return True                                        # a mode decided at runtime cannot be trusted


def _mode(call, position):
    for kw in call.keywords:
        if kw.arg == 'mode':
            return kw.value
    return call.args[position] if len(call.args) > position else None


def file_writes(source: str) -> list:
    """(line, function, what) for each call in ``source`` that writes a file, or may."""
    out = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name if function is None else function)
                continue
            if isinstance(child, ast.ImportFrom):
                for alias in child.names:
                    if alias.name in WRITERS or alias.name in MODULE_WRITERS.get(child.module or '', ()):
                        out.append((child.lineno, function, f'from {child.module} import {alias.name}'))
            if isinstance(child, ast.Call):
                f = child.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', '')
                owner = _dotted(f.value) if isinstance(f, ast.Attribute) else ''
                what = ast.unparse(f)
                if name in WRITERS:
                    out.append((child.lineno, function, what))
                elif owner in MODULE_WRITERS and name in MODULE_WRITERS[owner]:
                    out.append((child.lineno, function, what))
                elif (owner, name) == ('os', 'open'):
                    flags = child.args[1] if len(child.args) > 1 else None
                    if flags is None or ast.unparse(flags) != 'os.O_RDONLY':
                        out.append((child.lineno, function, f'{what}(flags={ast.unparse(flags) if flags else None})'))
                elif (owner, name) in OPENERS:
                    mode = _mode(child, OPENERS[owner, name])
                    if _writes_mode(mode):
                        out.append((child.lineno, function, f'{what}(mode={ast.unparse(mode)})'))
                elif name == 'open' and owner not in MODULES:          # Path.open(mode) and friends
                    if _writes_mode(_mode(child, 0)):
                        out.append((child.lineno, function, f'{what}(mode={ast.unparse(_mode(child, 0))})'))
            visit(child, function)

    visit(ast.parse(source), None)
    return out


CAUGHT = ["Path(p).open('w')", "p.open(mode='wb')", "p.open('a')", "open(p, 'w')", "open(p, mode='a')",
          "open(p, 'r+')", "open(p, m)", "io.open(p, 'wb')", "gzip.open(p, 'wt')", "p.write_bytes(b)",
          "p.write_text(t)", "np.save(p, a)", "numpy.save(p, a)", "np.savez(p, a=a)", "np.savez_compressed(p, a=a)",
          "np.savetxt(p, a)", "cv2.imwrite(p, a)", "a.tofile(p)", "torch.save(m, p)", "pickle.dump(x, f)",
          "json.dump(x, f)", "shutil.copyfile(a, b)", "os.rename(a, b)", "cv2.VideoWriter(p, 0, 30.0, (1, 1))",
          "tempfile.NamedTemporaryFile()", "os.open(p, os.O_WRONLY | os.O_CREAT)", "Image.fromarray(a).save(p)",
          "np.memmap(p, mode='w+')", "from numpy import save as keep", "from shutil import copyfile",
          "p.parent.mkdir()", "save_file(tensors, p)"]
NOT_CAUGHT = ["open(p)", "open(p, 'rb')", "p.open()", "p.open('rb')", "p.read_bytes()", "sys.stdout.write(s)",
              "self.out.write(s)", "json.dumps(x)", "np.load(p)", "a.copy()", "s.replace('a', 'b')",
              "yaml.safe_load(t)", "os.open(p, os.O_RDONLY)", "np.frombuffer(b)"]


@pytest.mark.parametrize('code', CAUGHT)
def test_scan_catches_every_kind_of_file_write(code):
    assert len(file_writes(f'def f():\n    {code}\n')) == 1, code


@pytest.mark.parametrize('code', NOT_CAUGHT)
def test_scan_lets_reads_and_terminal_output_pass(code):
    assert file_writes(f'def f():\n    {code}\n') == [], code


def test_runtime_has_no_code_path_that_writes_files():
    offenders, used = [], set()
    for path in sorted(RUNTIME.rglob('*.py')):
        rel = path.relative_to(RUNTIME).as_posix()
        if rel in ALLOWED_MODULES:
            used.add(rel)
            continue
        for line, function, what in file_writes(path.read_text()):
            if (rel, function) in ALLOWED_FUNCTIONS:
                used.add((rel, function))
            else:
                offenders.append(f'{rel}:{line} in {function}: {what}')
    assert offenders == []
    assert used == ALLOWED_FUNCTIONS | ALLOWED_MODULES         # every exception still writes: none is stale


def test_nodes_never_import_the_offline_writers():
    code = ('import sys\nimport depth_action_recognition.recognizer_node, depth_action_recognition.camera_sim_node, '
            'depth_action_recognition.events_node, depth_action_recognition.monitor\n'
            'print(sorted(m for m in sys.modules if m.startswith("depth_action_recognition.synthetic.")))')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    imported = eval(r.stdout.strip().splitlines()[-1])
    offline = {'depth_action_recognition.synthetic.dataset', 'depth_action_recognition.synthetic.preview'}
    assert imported and not offline & set(imported)


def test_images_are_subscribed_only_by_the_recognizer_and_colour_is_never_named():
    subscriptions = []
    for path in RUNTIME.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, 'attr', '') == 'create_subscription':
                subscriptions.append((path.name, ast.unparse(node.args[0])))
    # Images are only ever subscribed to by the recognizer, and only as depth (colour is refused on arrival).
    assert ('recognizer_node.py', 'Image') in subscriptions
    assert {t for f, t in subscriptions if f != 'recognizer_node.py'} <= {'String', 'DiagnosticArray'}
    for path in RUNTIME.glob('*.py'):
        if path.name != 'depth.py':
            assert not any(f"'{c}'" in path.read_text() for c in ('rgb8', 'bgr8', 'rgba8', 'bgra8')), path
