"""Writing a file so that readers see the whole of it or none of it."""
from __future__ import annotations

import logging
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed onto ``path`` when the block ends normally,
    removed when it raises (a kill or a time limit mid-write leaves the previous file, whole). The name is
    this process's own, so processes writing the same file at once do not mix their bytes (the last rename
    wins)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')
    try:
        yield tmp
        # The permissions any new file gets (0666 less the umask), whatever the writer chose: safetensors makes
        # its files 0600, a model that only the account that trained it could read.
        try:
            os.chmod(tmp, 0o666 & ~_umask())
        except OSError as e:        # a filesystem without modes (vfat, some network mounts): the file is still whole
            logging.getLogger(__name__).warning('%s: permissions not set (%s)', path, e)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask, read without changing it (os.umask can only be read by setting it, which races with
    other threads creating files)."""
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('Umask:'):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
