"""The training loop every stage shares: pretraining, LoRA SFT and distillation differ only in their
data and their loss.

What it does, in the order a reader meets it:
- runtime: device, autocast dtype (bf16 on a GPU), TF32, `torch.compile`, DDP under `torchrun`
  (NCCL on GPUs, gloo on CPU);
- data order: batch `i` of step `s` is a pure function of (seed, s, i), so a resumed run sees exactly the
  batches the killed one would have; under DDP every rank takes its slice of the same global batch;
- AdamW (fused kernel on CPU and CUDA; no weight decay on norms/biases), linear warm-up then cosine decay, gradient
  accumulation (`no_sync` on the inner micro-steps), gradient clipping;
- a NaN/inf loss stops the run before the optimizer step, keeping the last good checkpoint;
- metrics as JSON lines (loss, lr, tokens/s, MFU on a GPU) and a checkpoint every `save_every` steps, written
  atomically (temp file + rename).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .config import OptimConfig, RuntimeConfig

log = logging.getLogger(__name__)

# Dense bf16 peak FLOP/s by GPU name (datasheet figures, no sparsity), for MFU.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
                   "A10": 125e12, "RTX 4090": 165e12, "RTX 3090": 71e12}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class Runtime:
    device: torch.device
    dtype: torch.dtype
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def peak_flops(self) -> float | None:
        if self.device.type != "cuda":
            return None
        name = torch.cuda.get_device_name(self.device)
        return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matrix products run in hardware here: a GPU with bf16, or a CPU with AVX512-BF16 or AMX
    (the cpu-demo training steps take half the time in bf16 autocast on such a CPU; elsewhere PyTorch
    emulates bf16 and float32 is faster)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence the getattr
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def setup_runtime(cfg: RuntimeConfig) -> Runtime:
    """Device and precision from the config; joins the process group when launched by torchrun."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    want_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if want_cuda and not torch.cuda.is_available():
        raise RuntimeError("runtime.device=cuda but no CUDA device is available; use runtime.device=cpu")
    if want_cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        if cfg.tf32:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
    else:
        device = torch.device("cpu")
    if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and native_bf16(device)):
        dtype = torch.bfloat16
    else:
        dtype = torch.float32
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if want_cuda else "gloo")
    return Runtime(device, dtype, rank, world, local_rank)


_perm_cache: dict[tuple[int, int, int], list[int]] = {}


def _permutation(n_items: int, epoch: int, seed: int) -> list[int]:
    key = (n_items, epoch, seed)
    if key not in _perm_cache:
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        _perm_cache[key] = torch.randperm(n_items, generator=g).tolist()
    return _perm_cache[key]


@dataclass
class BatchPlan:
    """Which items form each micro-batch, for every rank, for the whole run."""

    n_items: int
    micro_batch: int
    """Items per micro-batch per process."""
    grad_accum: int
    world: int
    seed: int

    def used(self, steps: int) -> set[int]:
        """Every item some rank reads in `steps` optimizer steps (what a stage must prepare, no more)."""
        return {i for step in range(steps) for micro in range(self.grad_accum) for rank in range(self.world)
                for i in self.items(step, micro, rank)}

    def items(self, step: int, micro: int, rank: int) -> list[int]:
        global_micro = self.micro_batch * self.world
        first = (step * self.grad_accum + micro) * global_micro + rank * self.micro_batch
        out = []
        for pos in range(first, first + self.micro_batch):
            epoch, offset = divmod(pos, self.n_items)
            out.append(_permutation(self.n_items, epoch, self.seed)[offset])
        return out


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


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class MetricsLog:
    """JSON lines; on resume, lines past the checkpoint's step are dropped (they will be redone)."""

    def __init__(self, path: Path, resume_step: int | None, enabled: bool):
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if resume_step is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line).get("step", 0) <= resume_step:
                        kept.append(line)
                except json.JSONDecodeError:
                    break  # a line cut by the kill
        path.write_text("".join(x + "\n" for x in kept), encoding="utf-8")

    def write(self, record: dict) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")


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
            batch = {k: _to_device(v, rt.device) for k, v in batch.items()}
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
            kept = f"the last good checkpoint ({ckpt_path}, step {_saved_step(ckpt_path)}) is kept" \
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
            _atomic_torch_save({"model": _trainable_state(model), "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "step": state.step}, ckpt_path)
        if rt.distributed:
            dist.barrier()
    bar.close()
    model.eval()
    return state


def _to_device(value, device: torch.device):
    """Host-to-GPU copies from pinned memory, asynchronous; CPU tensors pass through."""
    if not torch.is_tensor(value) or device.type != "cuda":
        return value
    return value.pin_memory().to(device, non_blocking=True)


def _trainable_state(model: torch.nn.Module) -> dict:
    """Parameters that train (all of them, or only the LoRA ones) plus buffers: a small checkpoint."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu() for k, v in model.state_dict().items() if k in names or "lora_" in k}


class CheckpointMismatch(RuntimeError):
    """A resume checkpoint that does not fit the model; resuming from it would silently train fresh weights."""


def load_trainable_state(model: torch.nn.Module, state: dict, path: Path) -> None:
    """Load a `_trainable_state` checkpoint strictly: only what is frozen on purpose (parameters that do
    not train, e.g. the base weights under LoRA) may be absent, and nothing unknown may be present."""
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    current = model.state_dict()
    loaded = {current[k].data_ptr() for k in state if k in current}  # tied weights: one name is saved
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in frozen and current[k].data_ptr() not in loaded]
    if missing or unexpected:
        raise CheckpointMismatch(
            f"{path} does not match this model (missing: {', '.join(missing[:5]) or 'none'}"
            f"{'…' if len(missing) > 5 else ''}; unexpected: {', '.join(unexpected[:5]) or 'none'}"
            f"{'…' if len(unexpected) > 5 else ''}): it was written for another configuration. "
            f"Delete {path.parent} or run without --resume.")


def _saved_step(path: Path) -> int | str:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)["step"]
    except Exception:  # noqa: BLE001 - only for a message
        return "?"
