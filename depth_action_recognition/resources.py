"""Where the package's data files (config/, models/, launch/) are, in each way it can be installed.

A source checkout or editable install uses the tree next to the package (so a freshly trained model in
``models/`` is used without reinstalling); a colcon install is found through the ament index; a plain
pip install finds ``<prefix>/share/depth_action_recognition``.
"""
from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = 'depth_action_recognition'
DEFAULT_MODEL_NAME = 'default.safetensors'


def share_dir() -> Path:
    source = Path(__file__).resolve().parents[1]
    if (source / 'package.xml').is_file() and (source / 'config').is_dir():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(PACKAGE))
    except Exception:  # noqa: BLE001 - not a colcon install (or no AMENT_PREFIX_PATH)
        pass
    return Path(sys.prefix) / 'share' / PACKAGE


def default_params_file() -> Path:
    return share_dir() / 'config' / 'monitor.yaml'


def default_model_path() -> Path:
    return share_dir() / 'models' / DEFAULT_MODEL_NAME
