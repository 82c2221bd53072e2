"""Where a stage runs: device, autocast dtype (bf16 where the hardware has it), TF32, and the process group
under `torchrun` (NCCL on GPUs, gloo on CPU)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .config import RuntimeConfig

# Dense bf16 peak FLOP/s by GPU name (datasheet figures, no sparsity), for MFU.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
                   "A10": 125e12, "RTX 4090": 165e12, "RTX 3090": 71e12}


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


def to_device(value, device: torch.device):
    """Host-to-GPU copies from pinned memory, asynchronous; CPU tensors pass through."""
    if not torch.is_tensor(value) or device.type != "cuda":
        return value
    return value.pin_memory().to(device, non_blocking=True)
