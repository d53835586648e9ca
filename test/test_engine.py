import threading
import time

import numpy as np
import pytest
import torch

from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.clip_buffer import Clip
from depth_action_recognition.engine import EngineWorker, InferenceEngine, resolve_device
from depth_action_recognition.errors import ConfigError, EngineError


def fail_then_serve(worker, first, errors, results, timeout=10.0):
    """Submit a clip that fails, wait for the error, then a good one, and wait for its result."""
    deadline = time.time() + timeout
    worker.submit('a', first)
    while not errors and time.time() < deadline:
        time.sleep(0.01)
    worker.submit('a', clip())
    while not results and time.time() < deadline:
        time.sleep(0.01)
    worker.stop()


def clip(value=0.5):
    return Clip(frames=np.full((8, 24, 32), value, np.float32), start_stamp=1.0, end_stamp=2.0)


def test_batch_equals_single_inference(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cpu', max_batch=2)
    clips = np.random.default_rng(0).random((5, 8, 24, 32), dtype=np.float32)
    batch = engine.infer(clips)                                   # split into batches of 2
    single = np.concatenate([engine.infer(clips[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    np.testing.assert_allclose(batch.sum(1), 1, atol=1e-5)


def test_wrong_shape_is_an_engine_error(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cpu')
    with pytest.raises(EngineError, match='does not match'):
        engine.infer(np.zeros((1, 8, 10, 10), np.float32))


def test_device_validation():
    with pytest.raises(ConfigError):
        resolve_device('tpu')
    assert resolve_device('cpu').type == 'cpu'
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match='CUDA is not available'):
            resolve_device('cuda')


def test_worker_batches_latest_clip_per_camera_and_counts_skips(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cpu')
    gate = threading.Event()
    infer = engine.infer
    engine.infer = lambda x: (gate.wait(5), infer(x))[1]
    results = []
    worker = EngineWorker(engine, results.append).start()
    worker.submit('a', clip())            # taken immediately, blocks on the gate
    time.sleep(0.2)
    for i in range(3):
        worker.submit('a', clip(i))       # two replaced before the worker is free
    worker.submit('b', clip())
    gate.set()
    deadline = time.time() + 5
    while len(results) < 3 and time.time() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert worker.skipped['a'] == 2
    assert [r.camera for r in results] == ['a', 'a', 'b']
    assert results[1].batch_size == 2 and results[1].clip.frames[0, 0, 0] == 2


def test_worker_survives_inference_errors(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cpu')
    errors, results = [], []
    worker = EngineWorker(engine, results.append, errors.append).start()
    fail_then_serve(worker, Clip(frames=np.zeros((3, 3, 3), np.float32), start_stamp=0, end_stamp=0), errors, results)
    assert isinstance(errors[0], EngineError) and len(results) == 1


@pytest.mark.cuda
def test_cuda_matches_cpu(checkpoint):
    clips = np.random.default_rng(0).random((4, 8, 24, 32), dtype=np.float32)
    cpu = InferenceEngine(load_checkpoint(checkpoint), 'cpu').infer(clips)
    gpu = InferenceEngine(load_checkpoint(checkpoint), 'cuda').infer(clips)
    np.testing.assert_allclose(cpu, gpu, atol=2e-2)               # bf16 autocast on CUDA
    assert (cpu.argmax(1) == gpu.argmax(1)).mean() >= 0.75


@pytest.mark.cuda
def test_cuda_out_of_memory_falls_back_to_cpu(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cuda')
    real = engine.infer
    calls = {'n': 0}

    def oom_once(x):
        calls['n'] += 1
        if calls['n'] == 1:
            raise torch.cuda.OutOfMemoryError('CUDA out of memory (injected)')
        return real(x)
    engine.infer = oom_once
    errors, results = [], []
    worker = EngineWorker(engine, results.append, errors.append).start()
    fail_then_serve(worker, clip(), errors, results)
    assert worker.fell_back and engine.device.type == 'cpu' and len(results) == 1
