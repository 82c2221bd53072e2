"""The training loop every stage shares: pretraining, LoRA SFT and distillation differ only in their
data and their loss.

Its parts live beside it, one concept per file: `runtime` (device, precision, DDP), `batching` (the data
order, resumable), `optim` (AdamW and the schedule), `checkpoint` (resumable checkpoint and metrics log).
This file is the loop itself: gradient accumulation (`no_sync` on the inner micro-steps), gradient clipping,
one host sync per step, a NaN/inf loss stopping the run before the optimizer step (the last good checkpoint
is kept), metrics (loss, lr, tokens/s, MFU on a GPU) and a checkpoint every `save_every` steps.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .batching import BatchPlan
from .checkpoint import MetricsLog, atomic_save, load_trainable_state, saved_step, trainable_state
from .config import OptimConfig
from .optim import cosine_lr, make_optimizer
from .runtime import Runtime, to_device

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class StepResult:
    loss: torch.Tensor
    """Mean loss of the micro-batch (what backward() sees)."""
    tokens: int
    """Tokens processed (for throughput)."""


LossFn = Callable[[torch.nn.Module, dict], StepResult]


@dataclass
class LoopState:
    step: int = 0
    history: list[dict] = field(default_factory=list)


def train(
    model: torch.nn.Module,
    items: Sequence,
    collate: Callable[[list], dict],
    loss_fn: LossFn,
    cfg: OptimConfig,
    rt: Runtime,
    work_dir: Path,
    *,
    resume: bool = False,
    eval_fn: Callable[[torch.nn.Module], dict] | None = None,
    flops_per_token: float | None = None,
    desc: str = "train",
    compile_model: bool = False,
    checkpoints: bool = True,
) -> LoopState:
    """Run `cfg.steps` optimizer steps over `items` and return the final state.

    The caller saves the final model; this function owns the resumable checkpoint in `work_dir`
    (`checkpoints=False` skips it: the benchmark compares with a Trainer that saves nothing).
    """
    if len(items) == 0:
        raise ValueError(f"{desc}: no training examples")
    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = work_dir / "checkpoint.pt"
    model.to(rt.device)
    optimizer = make_optimizer(model, cfg, rt.device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_lr(s, cfg))
    state = LoopState()
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=rt.device, weights_only=False)
        load_trainable_state(model, ckpt["model"], ckpt_path)
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        state.step = ckpt["step"]
        if rt.is_main:
            log.info("%s: resumed from %s at step %d", desc, ckpt_path, state.step)
    elif resume and rt.is_main:
        log.info("%s: no checkpoint in %s yet; starting from step 0", desc, ckpt_path)
    metrics = MetricsLog(work_dir / "metrics.jsonl", state.step if resume else None, rt.is_main)

    run_model = model
    if compile_model:
        run_model = torch.compile(model)
    if rt.distributed:
        ids = [rt.device.index] if rt.device.type == "cuda" else None
        run_model = torch.nn.parallel.DistributedDataParallel(run_model, device_ids=ids)
    plan = BatchPlan(len(items), cfg.batch_size, cfg.grad_accum, rt.world, cfg.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    peak = rt.peak_flops()

    bar = tqdm(total=cfg.steps, initial=state.step, desc=desc, disable=not rt.is_main, dynamic_ncols=True)
    model.train()
    while state.step < cfg.steps:
        t0 = time.perf_counter()
        # The loss stays on the device through the micro-steps: one host sync per step (below), where
        # nanoGPT-style loops read it, instead of one `.item()` per micro-step.
        loss_sum, tokens = torch.zeros((), device=rt.device), 0
        for micro in range(cfg.grad_accum):
            batch = collate([items[i] for i in plan.items(state.step, micro, rt.rank)])
            batch = {k: to_device(v, rt.device) for k, v in batch.items()}
            sync = micro == cfg.grad_accum - 1 or not rt.distributed
            ctx = contextlib.nullcontext() if sync else run_model.no_sync()
            with ctx:
                with rt.autocast():
                    out = loss_fn(run_model, batch)
                (out.loss / cfg.grad_accum).backward()
            loss_sum += out.loss.detach().float() / cfg.grad_accum
            tokens += out.tokens
        if rt.distributed:
            tokens_t = torch.tensor(float(tokens), device=rt.device)
            dist.all_reduce(loss_sum)
            dist.all_reduce(tokens_t)
            loss_sum, tokens = loss_sum / rt.world, int(tokens_t.item())
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip) if cfg.grad_clip > 0 else None
        # the one host sync of the step: the loss (to log it, and to refuse a non-finite step) and the norm
        loss, *norm = torch.stack([loss_sum, grad_norm.float()] if grad_norm is not None else [loss_sum]).tolist()
        grad_norm = norm[0] if norm else None
        if not math.isfinite(loss):
            bar.close()
            kept = f"the last good checkpoint ({ckpt_path}, step {saved_step(ckpt_path)}) is kept" \
                if ckpt_path.exists() else "no checkpoint had been written yet"
            raise TrainingDiverged(f"{desc}: loss is {loss} at step {state.step + 1}; stopping. {kept}. "
                                   f"Lower the learning rate (now {cfg.lr}) or check the data.")
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        state.step += 1
        record = {"step": state.step, "loss": round(loss, 5), "lr": scheduler.get_last_lr()[0],
                  "tokens_per_s": round(tokens / dt, 1), "step_s": round(dt, 4)}
        if grad_norm is not None:
            record["grad_norm"] = round(grad_norm, 4)
        if flops_per_token and peak:
            record["mfu"] = round(flops_per_token * tokens / dt / (peak * rt.world), 4)
        if eval_fn and (state.step % cfg.eval_every == 0 or state.step == cfg.steps):
            model.eval()
            with torch.no_grad(), rt.autocast():
                record.update(eval_fn(model))
            model.train()
        state.history.append(record)
        if state.step % cfg.log_every == 0 or "eval_loss" in record or state.step == cfg.steps:
            metrics.write(record)
        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{record['tokens_per_s']:.0f}")
        bar.update(1)
        if checkpoints and rt.is_main and (state.step % cfg.save_every == 0 or state.step == cfg.steps):
            atomic_save({"model": trainable_state(model), "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "step": state.step}, ckpt_path)
        if rt.distributed:
            dist.barrier()
    bar.close()
    model.eval()
    return state
