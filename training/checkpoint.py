"""What a run leaves to resume from: the resumable checkpoint (trainable weights, optimizer, schedule, step),
written atomically, loaded strictly; and the metrics log, cut back to the checkpoint's step on resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def trainable_state(model: torch.nn.Module) -> dict:
    """Parameters that train (all of them, or only the LoRA ones) plus buffers: a small checkpoint."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu() for k, v in model.state_dict().items() if k in names or "lora_" in k}


class CheckpointMismatch(RuntimeError):
    """A resume checkpoint that does not fit the model; resuming from it would silently train fresh weights."""


def load_trainable_state(model: torch.nn.Module, state: dict, path: Path) -> None:
    """Load a `trainable_state` checkpoint strictly: only what is frozen on purpose (parameters that do
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


def saved_step(path: Path) -> int | str:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)["step"]
    except Exception:  # noqa: BLE001 - only for a message
        return "?"


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
