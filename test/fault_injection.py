"""Faults injected below the engine: a real nn.Module that fails the way a CUDA device does."""
import torch

CUDA_FAULT = 'CUDA error: an illegal memory access was encountered (injected)'


class FaultedModel(torch.nn.Module):
    """A model on a device that failed for good: every forward raises what CUDA raises then, and so does
    moving its weights anywhere (``.to``/``.cpu`` go through ``_apply``) — the memory cannot be copied off."""

    def __init__(self, model, error=CUDA_FAULT):
        super().__init__()
        self.inner, self.error, self.calls = model, error, 0

    def forward(self, x):
        self.calls += 1
        raise RuntimeError(self.error)

    def _apply(self, fn, *args, **kwargs):
        raise RuntimeError(self.error)
