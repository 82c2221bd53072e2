"""Stage 6: the whole pipeline — tokenizer, pretrain, instruct, distill, evaluate — for one profile.

    python -m training.pipeline --profile cpu-demo|gpu [--out artifacts/models] [--resume] [key=value ...]

With `--resume`, finished stages (their output published) are skipped and an interrupted one continues
from its last checkpoint. `<out>/pipeline.json` records each stage's wall time.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from . import distill, evaluate, instruct, pretrain, tokenizer
from .artifacts import write_json
from .config import cli, load_config, stage_parser

log = logging.getLogger(__name__)

STAGES = [
    ("tokenizer", "tokenizer", lambda cfg, out, resume: tokenizer.run(cfg, out)),
    ("pretrain", "base", lambda cfg, out, resume: pretrain.run(cfg, out, resume)),
    ("instruct", "tuned", lambda cfg, out, resume: instruct.run(cfg, out, resume)),
    ("distill", "distilled", lambda cfg, out, resume: distill.run(cfg, out, resume)),
    ("evaluate", "report.json", lambda cfg, out, resume: evaluate.run(cfg, out)),
]


def _done(out: Path, product: str) -> bool:
    path = out / product
    return path.is_file() or (path / "tokenizer.json").exists()


def run(cfg, out: Path, resume: bool = False) -> dict:
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    for stage, product, fn in STAGES:
        if stage == "tokenizer" and cfg.pretrain.init_from:
            log.info("pipeline: tokenizer skipped: pretraining starts from %s, with its own", cfg.pretrain.init_from)
            continue
        if resume and _done(out, product):
            log.info("pipeline: %s already done (%s); skipping", stage, out / product)
            continue
        t0 = time.perf_counter()
        fn(cfg, out, resume)
        timings[stage] = round(time.perf_counter() - t0, 1)
        log.info("pipeline: %s took %.1f s", stage, timings[stage])
    timings["total"] = round(time.perf_counter() - t_all, 1)
    record = {"profile": cfg.profile, "seconds": timings, "torch_threads": torch.get_num_threads()}
    write_json(out / "pipeline.json", record)
    log.info("pipeline: %s", ", ".join(f"{k} {v} s" for k, v in timings.items()))
    return record


@cli
def main(argv: list[str] | None = None) -> int:
    args = stage_parser("pipeline", __doc__).parse_args(argv)
    run(load_config(args.config, args.profile, args.overrides), Path(args.out), args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
