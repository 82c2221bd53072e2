"""Data order as a pure function: batch `i` of step `s` depends only on (seed, s, i), so a resumed run sees
exactly the batches the killed one would have, and under DDP every rank takes its slice of the same global
batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch

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
