"""``python -m bench``: run the benchmarks and write ``bench/results/latest.{json,md}``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence

from bench import common
from bench.common import PROFILES, Section

BENCHMARKS = ("throughput", "latency", "fanout", "memory", "indicators", "notify", "api", "reports")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="govpulse benchmarks: throughput, alert latency, websocket fan-out, memory and "
        "recovery, HTTP ingest. Each starts its own throwaway broker/Redis/processes; results go to "
        "bench/results/latest.json and latest.md (see bench/README.md).",
    )
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="quick (< 5 min) or full")
    parser.add_argument(
        "--only",
        choices=BENCHMARKS,
        action="append",
        help="run only this benchmark (repeatable); other sections of latest.json are kept",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply workload sizes by this factor (development only; results are marked)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directories (logs) afterwards")
    parser.add_argument(
        "--py-spy",
        action="store_true",
        help="throughput: also run the pipeline once under py-spy and summarize where its time goes",
    )
    parser.add_argument("--no-write", action="store_true", help="print the figures only; write no results")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("aiokafka", "kafka", "runtime.services", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.scale <= 0:
        print("--scale must be > 0", file=sys.stderr)
        return 2
    common.raise_fd_limit()
    selected = args.only or list(BENCHMARKS)
    runners = _runners(args)
    started = time.monotonic()
    print(
        f"govpulse benchmarks, profile {args.profile}"
        + (f" (scale {args.scale})" if args.scale != 1.0 else "")
        + f"; load average {common.load_average()} on {common.machine_info()['cores']} cores",
        flush=True,
    )
    sections: list[Section] = []
    failures: list[str] = []
    for name in BENCHMARKS:
        if name not in selected:
            continue
        print(f"\n== {name} ==", flush=True)
        try:
            produced = runners[name]()
        except Exception as exc:
            logging.getLogger("bench").error("%s failed: %s", name, exc, exc_info=args.verbose)
            failures.append(f"{name}: {exc}")
            continue
        for section in produced:
            if args.scale != 1.0:
                section.run["scale"] = args.scale
        sections.extend(produced)
    elapsed = time.monotonic() - started
    print(f"\nall done in {elapsed:.0f}s; load average now {common.load_average()}", flush=True)
    if sections and not args.no_write:
        from bench.report import markdown

        merged = {
            **common.load_latest(),
            "machine": common.machine_info(),
            **{s.name: {**s.data, "run": s.run} for s in sections},
        }
        path = common.write_results(
            sections, profile=args.profile, markdown=markdown(merged, profile=args.profile)
        )
        print(f"results: {path} and {path.with_suffix('.md')}")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


def _runners(args: argparse.Namespace) -> dict[str, Callable[[], list[Section]]]:
    def throughput() -> list[Section]:
        from bench import throughput

        return throughput.run(args.profile, scale=args.scale, keep=args.keep, py_spy=args.py_spy)

    def latency() -> list[Section]:
        from bench import latency

        return latency.run(args.profile, scale=args.scale, keep=args.keep)

    def fanout() -> list[Section]:
        from bench import fanout

        return fanout.run(args.profile, scale=args.scale, keep=args.keep)

    def memory() -> list[Section]:
        from bench import memory

        return memory.run(args.profile, scale=args.scale, keep=args.keep)

    def indicators() -> list[Section]:
        from bench import indicators

        return indicators.run(args.profile, scale=args.scale, keep=args.keep)

    def notify() -> list[Section]:
        from bench import notify

        return notify.run(args.profile, scale=args.scale, keep=args.keep)

    def api() -> list[Section]:
        from bench import api

        return api.run(args.profile, scale=args.scale, keep=args.keep)

    def reports() -> list[Section]:
        from bench import reports

        return reports.run(args.profile, scale=args.scale, keep=args.keep)

    out: dict[str, Callable[[], list[Section]]] = {
        "throughput": throughput,
        "latency": latency,
        "fanout": fanout,
        "memory": memory,
        "indicators": indicators,
        "notify": notify,
        "api": api,
        "reports": reports,
    }
    return out


if __name__ == "__main__":
    sys.exit(main())
