"""AdamW (fused kernel on CPU and CUDA; no weight decay on norms and biases) and its schedule: linear
warm-up, then cosine decay."""

from __future__ import annotations

import math

import torch

from .config import OptimConfig


def cosine_lr(step: int, cfg: OptimConfig) -> float:
    """Multiplier on cfg.lr: linear warm-up, then cosine decay to min_lr_ratio."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, max(0.0, progress))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, cfg: OptimConfig, device: torch.device) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # Fused kernels exist for CPU and CUDA tensors (one kernel per step instead of one per parameter).
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, cfg.beta2), fused=device.type in ("cpu", "cuda"))
