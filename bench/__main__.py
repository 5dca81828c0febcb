"""``python -m bench [--quick] [--rounds N] [--only TEXT] [--large] [--out FILE]``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from . import mongo, rss
from .contenders import contenders, memory_contenders
from .report import Results, write_chart, write_markdown
from .workloads import QUICK, Sizes, all_workloads, scaling_points


async def _run_all(results: Results, scratch: Path) -> None:
    order = results.contenders
    for w in results.workloads:
        for r in range(max(results.rounds, w.min_rounds)):
            # Alternate: each round starts with another contender.
            shift = r % len(order)
            for c in order[shift:] + order[:shift]:
                workdir = Path(tempfile.mkdtemp(dir=scratch))
                gc.collect()
                try:
                    sample = await w.run(c, workdir)
                finally:
                    shutil.rmtree(workdir)
                if sample is not None:
                    results.samples.setdefault((w.name, c.name), []).append(sample)
        print(f"  {w.name}: done", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="every workload once, tiny sizes")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of alternation (default 5)")
    parser.add_argument(
        "--out",
        type=Path,
        help="the Markdown file to write, the chart beside it (default: docs/benchmarks.md; "
        "with --quick, a temporary directory, so a smoke run never replaces the real table)",
    )
    parser.add_argument(
        "--only", metavar="TEXT", help="run only the workloads whose name holds TEXT"
    )
    parser.add_argument(
        "--large", action="store_true", help="also look peers up in a cache of 1,000,000"
    )
    parser.add_argument("--no-rss", action="store_true", help="skip the memory measurement")
    parser.add_argument("--no-mongo", action="store_true", help="skip MongoStorage")
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    if args.large:
        sizes = dataclasses.replace(sizes, scaling=(*sizes.scaling, 1_000_000))
    rounds = 1 if args.quick else args.rounds
    workloads = [w for w in all_workloads(sizes) if args.only is None or args.only in w.name]
    if not workloads:
        parser.error(f"no workload name holds {args.only!r}")
    results = Results(contenders(), workloads, rounds, args.quick)
    results.scaling = scaling_points(sizes)
    with tempfile.TemporaryDirectory(prefix="vault-bench-") as scratch:
        asyncio.run(_run_all(results, Path(scratch)))
    if not args.no_rss:
        results.rss_peers = sizes.lookup_peers
        for c in memory_contenders():
            runs = [rss.measure(c.name, sizes.lookup_peers) for _ in range(rounds)]
            results.rss[c.name] = (
                int(statistics.median(b for b, _ in runs)),
                int(statistics.median(p for _, p in runs)),
            )
        print("  memory: done", file=sys.stderr)
    if not args.no_mongo:
        peers = 200 if args.quick else 10_000
        results.mongo_server, results.mongo = asyncio.run(mongo.run(peers, rounds))
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="vault-bench-")) if args.quick else Path("docs")
        out /= "benchmarks.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    chart = out.with_suffix(".png")
    write_chart(results, chart)
    write_markdown(results, out, chart)
    print(f"wrote {out} and {chart}", file=sys.stderr)


main()
