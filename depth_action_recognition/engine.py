"""Batched student inference on CUDA (or the CPU), fed latest-wins per camera from a worker thread.

:class:`InferenceEngine` is the synchronous part: device choice, warm-up, one forward for a batch.
:class:`EngineWorker` owns a thread that waits for clips, takes the newest clip of every camera that
has one, runs them as one batch and hands results to a callback. A camera whose previous clip was
not yet taken when a new one arrives loses the old one (counted as skipped): when inference is
slower than the cameras, the node falls behind by at most one clip per camera, never by a queue.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from .checkpoint import LoadedModel
from .errors import ConfigError, EngineError

log = logging.getLogger(__name__)

DEVICES = ('auto', 'cuda', 'cpu')


def resolve_device(device: str) -> torch.device:
    if device not in DEVICES and not str(device).startswith('cuda:'):
        raise ConfigError(f"device must be one of {DEVICES} (or 'cuda:N'), got {device!r}")
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if str(device).startswith('cuda') and not torch.cuda.is_available():
        raise ConfigError(f'device {device!r} requested but CUDA is not available (use auto or cpu)')
    return torch.device(device)


class InferenceEngine:
    """Runs a loaded student on batches of preprocessed clips (N, T, H, W) -> probabilities (N, C)."""

    def __init__(self, loaded: LoadedModel, device: str = 'auto', *, max_batch: int = 32,
                 clip_length: Optional[int] = None):
        self.loaded = loaded
        self.device = resolve_device(device)
        self.max_batch = max_batch
        self.model = loaded.model.to(self.device).eval()
        spec = loaded.meta.preprocess
        self.clip_shape = (clip_length or spec.frames, spec.height, spec.width)
        # On CUDA half the bytes and the tensor cores at no accuracy cost for a classifier; CPU stays fp32.
        self.autocast = self.device.type == 'cuda'
        self.warmup()

    def warmup(self) -> None:
        """First calls pay for kernel selection and allocation; pay it at startup, not on the first person."""
        for n in (1, 2):
            self.infer(np.zeros((n,) + self.clip_shape, dtype=np.float32))

    def fall_back_to_cpu(self) -> None:
        """Move the model to the CPU after a CUDA failure: slower answers beat no answers."""
        self.model = self.model.to('cpu')
        self.device = torch.device('cpu')
        self.autocast = False
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @torch.inference_mode()
    def infer(self, clips: np.ndarray) -> np.ndarray:
        if clips.ndim != 4 or tuple(clips.shape[1:]) != self.clip_shape:
            raise EngineError(f'clip batch shape {tuple(clips.shape)} does not match the model input '
                              f'(N, {", ".join(map(str, self.clip_shape))})')
        out = []
        for i in range(0, len(clips), self.max_batch):
            x = torch.from_numpy(np.ascontiguousarray(clips[i:i + self.max_batch]))
            x = x.unsqueeze(1).to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                logits = self.model(x)
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(out)


def _is_cuda_failure(e: Exception) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError) or 'CUDA' in str(e) or 'cuda' in str(e)


@dataclass
class BatchResult:
    camera: str
    clip: object
    probs: np.ndarray
    infer_ms: float
    batch_size: int


class EngineWorker:
    """A thread that batches the newest clip of each camera through an :class:`InferenceEngine`."""

    def __init__(self, engine: InferenceEngine, on_result: Callable[[BatchResult], None],
                 on_error: Optional[Callable[[Exception], None]] = None, *, cpu_fallback: bool = True):
        self.engine = engine
        self.cpu_fallback = cpu_fallback
        self.fell_back = False
        self.on_result = on_result
        self.on_error = on_error or (lambda e: log.error('inference failed: %s', e))
        self.skipped = Counter()      # camera -> clips replaced before inference
        self.batches = 0
        self.errors = 0
        self._pending: dict = {}
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name='depth-action-inference', daemon=True)

    def start(self) -> 'EngineWorker':
        self._thread.start()
        return self

    def submit(self, camera: str, clip) -> None:
        with self._cond:
            if camera in self._pending:
                self.skipped[camera] += 1
            self._pending[camera] = clip
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                work, self._pending = self._pending, {}
            cameras = list(work)
            try:
                t0 = time.perf_counter()
                probs = self.engine.infer(np.stack([work[c].frames for c in cameras]))
                infer_ms = (time.perf_counter() - t0) * 1000.0
            except Exception as e:  # noqa: BLE001 - the worker must outlive any single bad batch
                self.errors += 1
                self.on_error(e)
                if self.cpu_fallback and self.engine.device.type == 'cuda' and _is_cuda_failure(e):
                    log.error('CUDA failed (%s); falling back to the CPU', e)
                    self.engine.fall_back_to_cpu()
                    self.fell_back = True
                continue
            self.batches += 1
            for cam, p in zip(cameras, probs):
                try:
                    self.on_result(BatchResult(cam, work[cam], p, infer_ms, len(cameras)))
                except Exception as e:  # noqa: BLE001
                    self.errors += 1
                    self.on_error(e)
