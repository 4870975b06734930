"""Storms against versions of wakeful, side by side, measured at a local Bot API server.

Every selected storm runs against every selected contender, one after the other, each
against a fresh local Bot API server with the same settings; the tables print at the end
(and with --json, every figure). Nothing asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    from benchmarks.storms.contenders import DEFAULT_BASELINE_REF

    parser = argparse.ArgumentParser(prog="python -m benchmarks.storms", description=__doc__)
    parser.add_argument("--storm", choices=("A", "C", "all"), default="all",
                        help="A: 100 chats x 3 over 20 s; C: 200 chats x 3 at once")
    from benchmarks.storms.contenders import ALTERNATIVES

    parser.add_argument("--contender", action="append",
                        choices=("working", "baseline", "alternatives", "all",
                                 *ALTERNATIVES),
                        help="repeat for several (default: working and baseline); "
                             "alternatives: every script in benchmarks/alternatives/; "
                             "all: every contender")
    parser.add_argument("--baseline-ref", default=DEFAULT_BASELINE_REF,
                        help="git ref of the baseline (default %(default)s)")
    parser.add_argument("--chats", type=int, help="chats per storm (default: the storm's)")
    parser.add_argument("--per-chat", type=int, help="messages per chat")
    parser.add_argument("--spread", type=float,
                        help="storm-A: seconds over which the messages are spread")
    parser.add_argument("--brain-delay", type=float, help="seconds per stand-in brain turn")
    parser.add_argument("--cap", type=int, help="brains at once ([brain] max_concurrent)")
    parser.add_argument("--limits", action=argparse.BooleanOptionalAction, default=None,
                        help="Telegram's flood limits (default: on)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds per storm and contender (default %(default)s)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    return parser.parse_args(argv)


def _describe_tree(tree: Path) -> str:
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False).stdout.strip()
    # --no-optional-locks: a status that never rewrites the index (someone else edits here).
    dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(tree), "status",
                            "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return f"{tree} at {head or '?'}{' + uncommitted changes' if dirty else ''}"


def main(argv: list[str] | None = None) -> int:
    from benchmarks.storms import report
    from benchmarks.storms.contenders import (
        ALTERNATIVES,
        REPO,
        Contender,
        alternative,
        git_worktree,
        wakeful_at,
    )
    from benchmarks.storms.run import Result, run
    from benchmarks.storms.storms import STORMS, adjusted, floor

    args = _arguments(argv)
    storms = [adjusted(STORMS[key], chats=args.chats, per_chat=args.per_chat,
                       brain_delay=args.brain_delay, cap=args.cap, limits=args.limits,
                       spread=args.spread if STORMS[key].spread is not None else None)
              for key in (("A", "C") if args.storm == "all" else (args.storm,))]

    print(f"storms, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}")
    with contextlib.ExitStack() as stack:
        contenders: list[Contender] = []
        trees: dict[str, str] = {}
        chosen = set(args.contender or ("working", "baseline"))
        if chosen & {"working", "all"}:
            contenders.append(wakeful_at("working", REPO))
            trees["working"] = _describe_tree(REPO)
        if chosen & {"baseline", "all"}:
            tree = stack.enter_context(git_worktree(args.baseline_ref))
            name = f"baseline {args.baseline_ref}"
            contenders.append(wakeful_at(name, tree))
            trees[name] = _describe_tree(tree)
        for name in ALTERNATIVES:
            if chosen & {name, "alternatives", "all"}:
                contenders.append(alternative(name))
                trees[name] = f"benchmarks/alternatives/{ALTERNATIVES[name]}"
        for name, where in trees.items():
            print(f"  {name}: {where}")
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="storms-")))

        results: dict[str, list[Result]] = {}
        for storm in storms:
            print(f"\n{storm.describe()}", flush=True)
            results[storm.name] = []
            for index, contender in enumerate(contenders):
                print(f"  {contender.name} ...", end=" ", flush=True)
                started = time.monotonic()
                slug = re.sub(r"[^a-zA-Z0-9]+", "-", contender.name)
                result = run(storm, contender, args.timeout,
                             workdir / f"{storm.key}-{index}-{slug}")
                results[storm.name].append(result)
                print(f"{'done' if result.failure is None else 'FAILED'} in "
                      f"{time.monotonic() - started:.0f} s", flush=True)

    reference = "working" if chosen & {"working", "all"} else None
    for storm in storms:
        rows = results[storm.name]
        print(f"\n## {storm.describe()}\n")
        print("What users see (👀 from the message written; last 👀 / answer from the first "
              "message written):\n")
        print("\n".join(report.contender_table(rows, report.USER_VIEW, reference)))
        print(f"\n{floor(storm).formula}")
        print("\nWhat it costs (calls and 429s from the first message on; CPU: the service "
              "process alone, sampled before the stop):\n")
        print("\n".join(report.contender_table(rows, report.COST, reference)))
        print("\nTelegram calls per message, by method:\n")
        print("\n".join(report.methods_table(rows, reference)))
        problems = report.failures(rows)
        if problems:
            print("\n" + "\n".join(problems))

    if args.json is not None:
        args.json.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "contenders": trees,
            "storms": [{"storm": asdict(storm), "description": storm.describe(),
                        "floor": asdict(floor(storm)),
                        "results": [asdict(r) for r in results[storm.name]]}
                       for storm in storms],
        }, indent=2, ensure_ascii=False) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
