"""A Ray cluster on loopback for the `ray` tests: a head that runs no brains and two
worker nodes with two brain slots each (the `wakeful_brain` resource).

Small on purpose (one CPU and 80 MB of object store a node): the tests are about
where turns run and what survives a node's loss, not about Ray's throughput.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[ray]'")
from ray.cluster_utils import Cluster  # noqa: E402

STORE = 80 * 1024 * 1024
SLOTS = 2


@dataclass
class RayCluster:
    cluster: Any
    workers: list[Any] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add_worker(self) -> Any:
        node = self.cluster.add_node(num_cpus=1, object_store_memory=STORE,
                                     resources={"wakeful_brain": SLOTS})
        self.workers.append(node)
        self.cluster.wait_for_nodes()
        return node

    def remove_worker(self, node_id: str) -> None:
        node = next(w for w in self.workers if w.node_id == node_id)
        self.workers.remove(node)
        self.cluster.remove_node(node)

    def worker_ids(self) -> list[str]:
        return [w.node_id for w in self.workers]


def start_cluster() -> Iterator[RayCluster]:
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": STORE, "include_dashboard": False})
    found = RayCluster(cluster)
    found.add_worker()
    found.add_worker()
    ray.init(address=cluster.address, namespace="wakeful", log_to_driver=False)
    try:
        yield found
    finally:
        ray.shutdown()
        cluster.shutdown()
