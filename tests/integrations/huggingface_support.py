"""A tiny GPT-2 and helpers for tests/integrations/test_huggingface.py, in their own module so
that transformers is imported only when those tests run (``hf`` fixture), not at collection."""

from __future__ import annotations

import math

import torch
import transformers

from resviz.integrations.huggingface import ResvizTrainerCallback
from resviz.train.layers import layer_parameters

__all__ = ["GradientsApplied", "ResvizTrainerCallback", "token_rows", "tiny_gpt2", "transformers"]


def tiny_gpt2() -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    return transformers.GPT2LMHeadModel(config)


def token_rows(n: int, length: int = 8, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 32, (n, length), generator=generator)
    return [{"input_ids": row, "labels": row} for row in ids]


class GradientsApplied(transformers.TrainerCallback):
    """The per-layer gradient norms the optimizer is about to apply (runs after resviz's callback)."""

    def __init__(self) -> None:
        self.grad_norms: list[list[float]] = []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.grad_norms.append([math.sqrt(sum(p.grad.norm().item() ** 2 for _, p in params if p.grad is not None))
                                for _, params in layer_parameters(model)])
