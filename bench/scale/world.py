"""The benchmark's world: which queues exist, which workloads bind them, and how.

Pure layout, no I/O: `layout()` returns the same world for the same sizes and
seed, so the three sizes of docs/performance.md differ only in size.

Per vhost (4 of them), every queue is bound by exactly one workload:

* 60 % of the workloads bind one queue (`qscaler.io/queues: s0007`);
* 30 % bind a list of four (`l0012.0,l0012.1,l0012.2,l0012.3`);
* 10 % bind a `re:` family (`re:^r003\\.`) that shares out the rest of the
  vhost's queues: 82 queues each at 5,000 queues and 500 workloads per vhost,
  the shape of sharded or per-tenant queues.

So the per-queue way (one GET per bound queue) reads every queue, and
qscaler's listing has no unbound queue to waste effort on: the comparison is
as favourable to the per-queue way as this layout can make it.

10 % of the workloads are busy: a few messages in one to three of their
queues, at 1 replica, which is what qscaler decides for them (backlog ≤
messages-per-replica), so the cluster starts in the steady state. The others
are at 0. Then `change` (another 10 %) is what the "10 % need a change" cycle
publishes to, and `bursts` are single-queue workloads kept idle for the burst
measurements.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

VHOSTS = 4
LIST_SIZE = 4
#: Messages in each loaded queue; below messages-per-replica, so busy means 1 replica.
LOAD = 5
MESSAGES_PER_REPLICA = 1000


@dataclass(frozen=True, slots=True)
class Bound:
    """One workload of the world, and what it binds."""

    vhost: str
    namespace: str
    name: str
    kind: str  # single, list, regex
    queues: tuple[str, ...]  # every queue it consumes (a regex binding's matches too)
    binding: str  # the qscaler.io/queues annotation

    @property
    def key(self) -> str:
        """namespace/name, as qscaler's WorkloadRef prints it."""
        return f"{self.namespace}/{self.name}"

    def annotations(self) -> dict[str, str]:
        """The Deployment's qscaler.io annotations."""
        return {
            "qscaler.io/queues": self.binding,
            "qscaler.io/vhost": self.vhost,
            "qscaler.io/messages-per-replica": str(MESSAGES_PER_REPLICA),
            "qscaler.io/min-replicas": "0",
            "qscaler.io/max-replicas": "10",
        }


@dataclass(frozen=True, slots=True)
class World:
    """Everything the benchmark creates and the groups it measures with."""

    vhosts: tuple[str, ...]
    queues: dict[str, tuple[str, ...]]  # by vhost
    workloads: tuple[Bound, ...]
    busy: dict[str, tuple[str, ...]]  # workload key -> its loaded queues
    change: tuple[Bound, ...]
    bursts: tuple[Bound, ...]

    @property
    def queue_count(self) -> int:
        """Queues over all vhosts."""
        return sum(len(q) for q in self.queues.values())

    def replicas(self, workload: Bound) -> int:
        """The replica count the world starts each workload at."""
        return 1 if workload.key in self.busy else 0


def layout(queues: int, workloads: int, seed: int = 1, bursts: int = 20) -> World:
    """The world for `queues` queues and `workloads` workloads over four vhosts."""
    per_q, per_w = queues // VHOSTS, workloads // VHOSTS
    vhosts = tuple(f"v{i}" for i in range(VHOSTS))
    all_queues: dict[str, tuple[str, ...]] = {}
    bound: list[Bound] = []
    for vhost in vhosts:
        names, mine = _vhost(vhost, per_q, per_w)
        all_queues[vhost] = names
        bound.extend(mine)
    rng = random.Random(seed)
    order = list(bound)
    rng.shuffle(order)
    tenth = max(1, len(bound) // 10)
    busy = {w.key: _loaded(w, rng) for w in order[:tenth]}
    change = tuple(order[tenth : 2 * tenth])
    idle_singles = [w for w in order[2 * tenth :] if w.kind == "single"]
    return World(vhosts, all_queues, tuple(bound), busy, change, tuple(idle_singles[: 2 * bursts]))


def _vhost(vhost: str, per_q: int, per_w: int) -> tuple[tuple[str, ...], list[Bound]]:
    n_regex = max(1, round(per_w * 0.1))
    n_list = max(1, round(per_w * 0.3))
    n_single = per_w - n_regex - n_list
    rest = per_q - n_single - LIST_SIZE * n_list
    if n_single < 1 or rest < n_regex:
        raise ValueError(f"{per_q} queues and {per_w} workloads per vhost do not fit the layout")
    namespace = f"bench-{vhost}"
    found: list[Bound] = []
    for k in range(n_single):
        name = f"s{k:04d}"
        found.append(Bound(vhost, namespace, f"single-{k:04d}", "single", (name,), name))
    for k in range(n_list):
        names = tuple(f"l{k:04d}.{j}" for j in range(LIST_SIZE))
        found.append(Bound(vhost, namespace, f"list-{k:04d}", "list", names, ",".join(names)))
    for k in range(n_regex):
        share = rest // n_regex + (1 if k < rest % n_regex else 0)
        names = tuple(f"r{k:03d}.{j:04d}" for j in range(share))
        found.append(Bound(vhost, namespace, f"regex-{k:03d}", "regex", names, f"re:^r{k:03d}\\."))
    queues = tuple(q for w in found for q in w.queues)
    return queues, found


def _loaded(workload: Bound, rng: random.Random) -> tuple[str, ...]:
    count = {"single": 1, "list": 2, "regex": 3}[workload.kind]
    return tuple(rng.sample(workload.queues, count))
