"""Run as `python -m wakeful.ops.ray_probe ADDRESS` by `wakeful check` (ray_check.py).

A process of its own, so a cluster that never answers costs a killed child, not a
wedged check, and the service's own process never holds a Ray connection it did not
ask for. Prints one JSON line: {"nodes": N, "slots": S} or {"error": "..."}.
"""

from __future__ import annotations

import json
import logging
import sys


def main(address: str) -> int:
    try:
        import ray

        from wakeful.brain.placement import brain_nodes

        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        nodes = brain_nodes(ray.nodes())
        print(json.dumps({"nodes": len(nodes), "slots": sum(nodes.values())}))
        return 0
    except Exception as exc:  # the operator reads the first line, never a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(json.dumps({"error": first[:300]}))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
