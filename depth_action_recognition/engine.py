"""Batched student inference on CUDA (or the CPU), fed latest-wins per camera from a worker thread.

:class:`InferenceEngine` is the synchronous part: device choice, warm-up, one forward for a batch.
:class:`EngineWorker` owns a thread that waits for clips, takes the newest clip of every camera that
has one, runs them as one batch and hands results to a callback. A camera whose previous clip was
not yet taken when a new one arrives loses the old one (the submitter counts it as skipped): when
inference is slower than the cameras, the node falls behind by at most one clip per camera, never by a
queue.

A device fault (CUDA error, out of memory) makes the worker reload the model from its file onto the
CPU, once: slower answers beat no answers, and after a CUDA fault neither the weights on the device nor
the context holding them can be trusted, or even copied off. If the worker ever ends on its own it says
why (:attr:`EngineWorker.failure`, ``on_stopped``), so the node can report it rather than go quiet.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Hashable, Optional

import numpy as np
import torch

from .checkpoint import LoadedModel, load_checkpoint
from .errors import ConfigError, EngineError
from .preprocess import input_size, max_input_width

log = logging.getLogger(__name__)

DEVICES = ('auto', 'cuda', 'cpu')


def resolve_device(device: str) -> torch.device:
    """The one device picker of the package (training uses it too): auto, cuda, cuda:N or cpu."""
    if device not in DEVICES and not str(device).startswith('cuda:'):
        raise ConfigError(f"device must be one of {DEVICES} (or 'cuda:N'), got {device!r}")
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if str(device).startswith('cuda') and not torch.cuda.is_available():
        raise ConfigError(f'device {device!r} requested but CUDA is not available (use auto or cpu)')
    return torch.device(device)


def mirror_mean_probs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class probabilities of clips ``x`` (N, 1, T, H, W): the mean of each clip's and its mirror image's, in one
    batch of 2N (the node's ``flip_average``, and ``training.evaluate --flip-average``)."""
    probs = torch.softmax(model(torch.cat([x, x.flip(-1)])).float(), dim=1)
    return (probs[:len(x)] + probs[len(x):]) / 2


class InferenceEngine:
    """Runs a loaded student on batches of preprocessed clips (N, T, H, W) -> probabilities (N, C)."""

    def __init__(self, loaded: LoadedModel, device: str = 'auto', *, flip_average: bool, max_batch: int = 32,
                 clip_length: Optional[int] = None):
        self.loaded = loaded
        self.device = resolve_device(device)
        self.max_batch = max_batch
        # The students train with horizontal flips (a person acts with either hand, seen from either side), so a
        # clip and its mirror image are equally valid views of one action: the mean of their probabilities is a
        # second opinion for twice the arithmetic. No default here: the node's parameter table holds the packaged one.
        self.flip_average = flip_average
        self.model = loaded.model.to(self.device).eval()
        spec = loaded.meta.preprocess
        self.clip_shape = (clip_length or spec.frames, spec.height, spec.width)
        self.max_width = max_input_width(spec)          # wider inputs for wider frames under fit 'extend'
        # fp32 on every device (PyTorch's default, TF32 convolutions on recent GPUs). bf16 autocast changed no
        # prediction of the default model on one H100 but made it slower (1.78 vs 1.32 ms a batch of 1, 1.88 vs
        # 1.72 ms a batch of 32): a network this small is bound by kernel launches, and autocast adds cast
        # kernels (bench/engine.py --device cuda; docs/performance.md).
        self.warmup()

    def warmup(self) -> None:
        """First calls pay for kernel selection and allocation; pay it at startup, not on the first person."""
        # Under 'extend' also the inputs of the common 16:9 modes (848x480 and 424x240: 106; 1280x720: 107) and the
        # widest: the first clip of a new shape pays for its own first call.
        spec = self.loaded.meta.preprocess
        widths = {self.clip_shape[2], self.max_width} | {input_size(h, w, spec)[1] for h, w in ((480, 848), (720, 1280))}
        for n in (1, 2):
            for w in widths:
                self.infer(np.zeros((n,) + self.clip_shape[:2] + (w,), dtype=np.float32))

    def fall_back_to_cpu(self) -> None:
        """Serve from a fresh CPU copy of the model, read from its file (see the module docstring).

        Raises if the file is gone or is no longer the model that was loaded: serving another model under
        the first one's name would be worse than serving none.
        """
        fresh = load_checkpoint(self.loaded.path)
        if fresh.sha256 != self.loaded.sha256:
            raise EngineError(f'{self.loaded.path} is no longer the model that was loaded '
                              f'({self.loaded.short_id}, now {fresh.short_id})')
        self.model, self.loaded = fresh.model.eval(), fresh
        self.device = torch.device('cpu')
        self.warmup()
        try:
            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - a faulted CUDA context may refuse even this
            pass

    @torch.inference_mode()
    def infer(self, clips: np.ndarray) -> np.ndarray:
        if clips.ndim != 4 or tuple(clips.shape[1:3]) != self.clip_shape[:2] \
                or not self.clip_shape[2] <= clips.shape[3] <= self.max_width:
            width = (f'{self.clip_shape[2]}' if self.max_width == self.clip_shape[2]
                     else f'{self.clip_shape[2]}..{self.max_width}')
            raise EngineError(f'clip batch shape {tuple(clips.shape)} does not match the model input '
                              f'(N, {self.clip_shape[0]}, {self.clip_shape[1]}, {width})')
        out = []
        # max_batch bounds the model's batch, mirror images included (a clip and its mirror at the least: 2)
        step = max(1, self.max_batch // 2) if self.flip_average else self.max_batch
        for i in range(0, len(clips), step):
            x = torch.from_numpy(np.ascontiguousarray(clips[i:i + step]))
            x = x.unsqueeze(1).to(self.device, non_blocking=True)
            if self.flip_average:
                probs = mirror_mean_probs(self.model, x)
            else:
                probs = torch.softmax(self.model(x), dim=1)
            out.append(probs.cpu().numpy())
        return np.concatenate(out)


_DEVICE_FAULT_TYPES = tuple(t for t in (getattr(torch, 'OutOfMemoryError', None), torch.cuda.OutOfMemoryError,
                                        getattr(torch, 'AcceleratorError', None)) if t is not None)
_DEVICE_FAULT_WORDS = ('CUDA', 'cuda', 'cuDNN', 'CUBLAS', 'cublas', 'device-side')


def is_device_fault(e: BaseException) -> bool:
    """Whether an inference error is the device failing (worth moving off it), not the input."""
    return isinstance(e, _DEVICE_FAULT_TYPES) or (
        isinstance(e, RuntimeError) and any(w in str(e) for w in _DEVICE_FAULT_WORDS))


@dataclass
class BatchResult:
    camera: Hashable          # the key the clip was submitted under
    clip: object
    probs: np.ndarray
    infer_ms: float
    batch_size: int


class EngineWorker:
    """A thread that batches the newest clip of each camera through an :class:`InferenceEngine`.

    Callbacks run on the worker thread: ``on_result(BatchResult)``, ``on_error(exception)`` for a
    failed batch, ``on_fallback(fault)`` once the model serves from the CPU after a device fault, and
    ``on_stopped(exception)`` if the thread ends by itself.
    """

    def __init__(self, engine: InferenceEngine, on_result: Callable[[BatchResult], None],
                 on_error: Optional[Callable[[Exception], None]] = None, *, cpu_fallback: bool = True,
                 on_fallback: Optional[Callable[[Exception], None]] = None,
                 on_stopped: Optional[Callable[[BaseException], None]] = None):
        self.engine = engine
        self.cpu_fallback = cpu_fallback
        self.fell_back = False
        self.on_result = on_result
        self.on_error = on_error or (lambda e: log.error('inference failed: %s', e))
        self.on_fallback = on_fallback or (lambda e: log.error('device fault (%s): serving from the CPU', e))
        self.on_stopped = on_stopped or (lambda e: log.critical('inference worker stopped: %s', e))
        self.failure: Optional[BaseException] = None    # why the thread ended, when it ended by itself
        self.batches = 0
        self.errors = 0
        self._pending: dict = {}
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name='depth-action-inference', daemon=True)

    def start(self) -> 'EngineWorker':
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, camera: Hashable, clip) -> bool:
        """Hand over a camera's newest clip. True if it replaced one not yet taken (a skipped clip)."""
        with self._cond:
            replaced = camera in self._pending
            self._pending[camera] = clip
            self._cond.notify()
        return replaced

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException as e:  # noqa: BLE001 - whatever ends the thread is reported, never lost
            self.failure = e
            self.on_stopped(e)

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                work, self._pending = self._pending, {}
            # One batch per clip shape: under fit 'extend' a 16:9 camera's clips are wider than a 4:3 one's, and
            # a clip the model refuses must not take the other cameras' clips down with it.
            batches: dict = {}
            for cam, clip in work.items():
                batches.setdefault(np.shape(clip.frames), []).append(cam)
            for cameras in batches.values():
                self._infer(cameras, work)

    def _infer(self, cameras: list, work: dict) -> None:
        try:
            t0 = time.perf_counter()
            probs = self.engine.infer(np.stack([work[c].frames for c in cameras]))
            infer_ms = (time.perf_counter() - t0) * 1000.0
        except Exception as e:  # noqa: BLE001 - the worker must outlive any single bad batch
            self.errors += 1
            self.on_error(e)
            if self.cpu_fallback and not self.fell_back and is_device_fault(e):
                self._fall_back(e)
            return
        self.batches += 1
        for cam, p in zip(cameras, probs):
            try:
                self.on_result(BatchResult(cam, work[cam], p, infer_ms, len(cameras)))
            except Exception as e:  # noqa: BLE001
                self.errors += 1
                self.on_error(e)

    def _fall_back(self, fault: Exception) -> None:
        try:
            self.engine.fall_back_to_cpu()
        except Exception as e:  # noqa: BLE001 - no device left to serve on: end the thread, saying why
            raise EngineError(f'device fault ({type(fault).__name__}: {fault}) and the model could not be '
                              f'reloaded on the CPU ({type(e).__name__}: {e})') from e
        self.fell_back = True
        self.on_fallback(fault)
