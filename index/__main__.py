"""Command line: `python -m index build|query|evaluate|bench`.

    python -m index build --docs DIR --out DIR [--uploads DIR] [--config FILE] [--embedder NAME] [--index-type flat|hnsw]
    python -m index query --index DIR --k K [--json] [--mode hybrid|lexical|dense] "question"
    python -m index evaluate --index DIR --qa FILE [--index DIR2 --qa FILE2 ...] [--json] [--sweep]
    python -m index bench [--docs DIR] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever downloaded at run time
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _config(args):
    from .config import IndexConfig

    config = IndexConfig.from_yaml(args.config) if getattr(args, "config", None) else IndexConfig()
    return config.with_overrides(embedder=getattr(args, "embedder", None), index_type=getattr(args, "index_type", None))


def cmd_build(args) -> int:
    from .build import build_index

    report = build_index(args.docs, args.out, _config(args), progress=not args.quiet, uploads_dir=args.uploads)
    print(report.summary())
    return 0


def cmd_query(args) -> int:
    from .store import HybridIndex

    if args.k < 1:
        raise ValueError(f"--k {args.k}: must be at least 1")
    results = HybridIndex.load(args.index).search(args.question, k=args.k, mode=args.mode)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2))
        return 0
    if not results:
        print("no results")
    for r in results:
        c = r.chunk
        where = " > ".join(c.heading_path)
        loc = f" p.{c.page}" if c.page else (f" slide {c.slide}" if c.slide else "")
        print(f"[{r.rank}] {r.score:.4f}  {c.source}{loc}  {where}")
        snippet = " ".join(c.text.split())
        print(f"    {snippet[:300]}{'…' if len(snippet) > 300 else ''}\n")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import DevSet, evaluate, format_sweep, load_qa, sweep
    from .store import HybridIndex

    if len(args.index) != len(args.qa):
        raise ValueError(f"give one --qa per --index ({len(args.index)} --index, {len(args.qa)} --qa)")
    sets = [DevSet(Path(qa).stem, HybridIndex.load(index), load_qa(qa)) for index, qa in zip(args.index, args.qa, strict=True)]
    if args.sweep:
        print(format_sweep(sweep(sets), args.top))
        return 0
    results = {d.name: [s.to_dict() for s in evaluate(d.index, d.items)] for d in sets}
    if args.json:
        print(json.dumps(results if len(sets) > 1 else next(iter(results.values())), indent=2))
        return 0
    for name, scores in results.items():
        if len(sets) > 1:
            print(f"== {name}")
        for s in scores:
            print(f"{s['retriever']:<8} recall@1={s['recall@1']:.3f}  recall@5={s['recall@5']:.3f}  "
                  f"MRR@10={s['mrr@10']:.3f}  (n={s['n']})")
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench

    run_bench(args.docs, [int(s) for s in args.sizes.split(",")], args.queries)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index", description="Build and query the course index.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="index a folder of documents (incremental, atomic)")
    p.add_argument("--docs", required=True, help="folder of course documents")
    p.add_argument("--out", required=True, help="index folder to create or update")
    p.add_argument("--uploads", help="folder of files uploaded in the app, indexed as subidos/<file> "
                                     "(skipped when it does not exist)")
    p.add_argument("--config", help="YAML file with IndexConfig fields")
    p.add_argument("--embedder", help="sentence-transformers model name or path (overrides the config)")
    p.add_argument("--index-type", choices=["flat", "hnsw"], help="FAISS index type (overrides the config)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("query", help="retrieve the passages for a question")
    p.add_argument("--index", required=True)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print a JSON array, best first")
    p.add_argument("--mode", choices=["hybrid", "lexical", "dense"], default="hybrid")
    p.add_argument("question")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("evaluate", help="recall@1, recall@5, MRR@10 on one or more question sets")
    p.add_argument("--index", required=True, action="append", help="index folder (repeat: one per --qa)")
    p.add_argument("--qa", required=True, action="append",
                   help='JSON lines {"question": ..., "evidence": [...]} (repeat, paired with --index in order)')
    p.add_argument("--json", action="store_true")
    p.add_argument("--sweep", action="store_true", help="score every fusion setting on every set, with cross-validation (how the defaults were chosen)")
    p.add_argument("--top", type=int, default=20, help="with --sweep: how many settings to print")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("bench", help="build throughput, query latency at 1k/10k/100k chunks, no-change re-index")
    p.add_argument("--docs", default=None, help="documents to build from (default: ../shared/course-docs, else course/)")
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--queries", type=int, default=200, help="queries timed per size")
    p.set_defaults(func=cmd_bench)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the previous index (if any) is untouched; run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
