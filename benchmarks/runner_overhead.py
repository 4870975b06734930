"""What does running brains on a Ray cluster cost per turn, and what does a node add?

Two figures, each against a baseline run in this same process, on a Ray cluster on
loopback (a head that runs no brains, worker nodes with 2 brain slots each):

1. **added latency** — the same stand-in turn (no delay), one after another, start to
   exit through the runner: LocalRunner (fork server here) versus RayRunner (the node's
   runner actor, its fork server, the items streamed back).
2. **throughput** — turns whose brain takes `--work` seconds, as many at once as the
   runner takes: RayRunner with 2 worker nodes versus 1.

    python benchmarks/runner_overhead.py [--turns 200] [--work 1.0] [--batch 24]

Both runners start every turn cold (a new brain process per turn): the specs here keep
no process warm (`keep_warm` 0, and LocalRunner without `max_warm`), and RayRunner
forces `keep_warm` to 0 anyway. `--turns` is 200 so that p99 is not simply the
slowest turn (with 50 it was).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any

# LocalRunner's fork server imports this file as __mp_main__: heavy imports only here.
if __name__ == "__main__" or TYPE_CHECKING:
    import ray
    from ray.cluster_utils import Cluster

    from wakeful.brain import standin
    from wakeful.brain.child import ChildReport, TurnSpec
    from wakeful.brain.config import BrainConfig
    from wakeful.brain.local_runner import LocalRunner
    from wakeful.brain.ray_runner import RayRunner
    from wakeful.brain.runner import TurnRunner

STORE = 80 * 1024 * 1024
_ids = itertools.count(1)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(name: str, seconds: list[float]) -> tuple[float, float]:
    median, p99 = statistics.median(seconds), _p(seconds, 0.99)
    print(f"  {name:44} median {median * 1000:8.1f} ms   p99 {p99 * 1000:8.1f} ms"
          f"   (n={len(seconds)})")
    return median, p99


def _spec(delay: float, workdir: str) -> TurnSpec:
    return TurnSpec(turn_id=f"b{next(_ids)}", argv=standin.turn_argv(delay), prompt="hello",
                    env={}, cwd=workdir, kill_grace=1.0)


def one_turn(runner: TurnRunner, chat: int, delay: float, workdir: str) -> float:
    """Start one turn and wait for its exit: seconds, start to exit."""
    ended = threading.Event()
    reports: list[Any] = []
    began = time.monotonic()
    runner.start(_spec(delay, workdir), chat,
                 lambda item: reports.append(item) if isinstance(item, ChildReport) else None,
                 lambda code: ended.set())
    if not ended.wait(120):
        raise SystemExit("a turn did not end within 120 s")
    if not reports or reports[0].reason != "exited":
        raise SystemExit(f"a turn failed: {reports}")
    return time.monotonic() - began


def sequential(runner: TurnRunner, turns: int, workdir: str) -> list[float]:
    one_turn(runner, 1, 0.0, workdir)  # warm: the fork server, the node's actor
    return [one_turn(runner, 1, 0.0, workdir) for _ in range(turns)]


def throughput(runner: TurnRunner, batch: int, work: float, workdir: str) -> float:
    """Turns per second for `batch` turns of `work` seconds, as many at once as fit."""
    ended = threading.Semaphore(0)
    chats = itertools.count(1)
    started = finished = 0
    began = time.monotonic()
    while started < batch:
        if runner.capacity() == 0:
            ended.acquire()  # a slot frees when a turn ends
            finished += 1
            continue
        chat = next(chats)
        if runner.accepts(chat):  # else its node is full: try the next chat
            runner.start(_spec(work, workdir), chat, lambda item: None,
                         lambda code: ended.release())
            started += 1
    while finished < batch:
        ended.acquire()
        finished += 1
    return batch / (time.monotonic() - began)


def wait_capacity(runner: TurnRunner, slots: int) -> None:
    deadline = time.monotonic() + 120
    while runner.capacity() != slots:
        if time.monotonic() > deadline:
            raise SystemExit(f"the cluster never offered {slots} slots")
        time.sleep(0.1)


def add_worker(cluster: Cluster) -> None:
    cluster.add_node(num_cpus=1, object_store_memory=STORE, resources={"wakeful_brain": 2})
    cluster.wait_for_nodes()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--work", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        local = LocalRunner(2)
        local.warm_up()
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "object_store_memory": STORE, "include_dashboard": False})
        add_worker(cluster)
        ray.init(address=cluster.address, namespace="wakeful", log_to_driver=False)
        runner = RayRunner(BrainConfig(runner="ray", ray_address=cluster.address),
                           on_change=lambda: None, refresh=0.2)
        try:
            wait_capacity(runner, 2)
            print("1. added latency (stand-in brain, no delay, one turn at a time, start to exit)")
            base = _row("baseline: LocalRunner (fork server here)",
                        sequential(local, args.turns, workdir))
            remote = _row("RayRunner, 1 worker node", sequential(runner, args.turns, workdir))
            print(f"  -> Ray adds {(remote[0] - base[0]) * 1000:.1f} ms per turn at the median, "
                  f"{(remote[1] - base[1]) * 1000:.1f} ms at p99 ({remote[0] / base[0]:.2f}x)\n")

            print(f"2. throughput ({args.batch} turns of {args.work:g} s, 2 slots per node)")
            alone = throughput(local, args.batch, args.work, workdir)
            print(f"  {'baseline: LocalRunner, 2 slots':44} {alone:6.2f} turns/s")
            one = throughput(runner, args.batch, args.work, workdir)
            print(f"  {'RayRunner, 1 worker node':44} {one:6.2f} turns/s")
            add_worker(cluster)
            wait_capacity(runner, 4)
            two = throughput(runner, args.batch, args.work, workdir)
            print(f"  {'RayRunner, 2 worker nodes':44} {two:6.2f} turns/s")
            print(f"  -> 2 nodes give {two / one:.2f}x the turns of 1")
        finally:
            runner.close()
            ray.shutdown()
            cluster.shutdown()


if __name__ == "__main__":
    main()
