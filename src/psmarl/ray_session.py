"""psmarl's private single-node Ray session: started bound to loopback with nothing it does
not need, and watched for resource waits.

Network: with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (set by ``psmarl.process_defaults``
before Ray is imported) and ``_node_ip_address=127.0.0.1``, GCS, raylet, the driver's and
every worker's gRPC servers and the runtime-env agent listen on 127.0.0.1 only; without
them Ray 2.60 listens on every interface (``::``) and the runtime-env agent on the node's
address, reachable by anyone on the network (the class of CVE-2023-48022). No dashboard is
started (``include_dashboard=False``), no usage report is sent. What still runs: GCS,
raylet, the runtime-env and dashboard agents (no port open beyond loopback), the
log monitor and the autoscaler monitor (no port).
``tests/reliability/test_training_run.py::test_ray_listens_on_loopback_only`` lists the
listening sockets of a training run.

Waits: a Ray actor or task that asks for more than the session has (more env runners than
CPUs) waits for ever and says nothing, since psmarl silences Ray's own warnings.
:class:`ResourceWaitReporter` asks GCS for unmet demands and logs any older than a minute.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

LOOPBACK = "127.0.0.1"
#: Seconds Ray may hold an unmet resource demand before the job's log says so.
WAIT_REPORT_AFTER = 60.0


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, and IPv4-mapped loopback (``::ffff:127.0.0.1``, how gRPC's IPv6
    sockets show a 127.0.0.1 binding)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def start(
    num_cpus: int,
    env_vars: Mapping[str, str] | None = None,
    log: Callable[[str], None] | None = None,
) -> bool:
    """Start Ray on this node, loopback only, unless it already runs (tests share one
    session). Returns True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(
        num_cpus=int(num_cpus),
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        configure_logging=True,
        _node_ip_address=LOOPBACK,
        runtime_env={"env_vars": dict(env_vars or {})},
    )
    address = ray.util.get_node_ip_address()
    if not is_loopback(address) and log is not None:
        log(
            f"WARNING: Ray took {address} as this node's address, so its processes listen "
            "beyond loopback: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="
            f"{os.environ.get('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER')!r} when Ray was imported "
            "(psmarl sets 0 when it is imported first; see docs/reliability.md)"
        )
    return True


def unmet_demands() -> list[str]:
    """Ray's resource demands it has not granted yet (tasks, actors, placement groups), as
    "N x {resource: amount}" strings, from GCS (the data ``ray status`` shows)."""
    import ray
    from ray.autoscaler.v2.sdk import get_cluster_status

    status = get_cluster_status(ray.get_runtime_context().gcs_address)
    demands = status.resource_demands
    out = []
    for d in [*demands.ray_task_actor_demand, *demands.placement_group_demand]:
        out += [f"{b.count} x {b.bundle}" for b in d.bundles_by_count]
    return out


class ResourceWaitReporter:
    """While running (a context manager), checks every ``every`` seconds whether Ray holds
    unmet resource demands; once they have been unmet for ``after`` seconds, logs one line
    saying what waits and what the session has, and repeats it every ``repeat`` seconds
    while the wait lasts. Runs in a daemon thread; never raises."""

    def __init__(
        self,
        log: Callable[[str], None],
        after: float = WAIT_REPORT_AFTER,
        every: float = 5.0,
        repeat: float = 600.0,
        hint: str = "",
    ):
        self.log, self.after, self.every, self.repeat, self.hint = log, after, every, repeat, hint
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="psmarl-ray-waits", daemon=True)
        self.reports = 0

    def __enter__(self) -> ResourceWaitReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 5)

    def _run(self) -> None:
        import ray

        since = last = None
        failed = False
        while not self._stop.wait(self.every):
            try:
                demands = unmet_demands()
            except Exception as e:  # noqa: BLE001 - a report must never break training
                if not failed:
                    self.log(
                        f"note: cannot ask Ray for unmet resource demands ({e}); "
                        "waits for resources will not be reported"
                    )
                failed = True
                continue
            now = time.monotonic()
            if not demands:
                since = last = None
                continue
            since = since if since is not None else now
            if now - since >= self.after and (last is None or now - last >= self.repeat):
                last = now
                self.reports += 1
                total = ray.cluster_resources()
                free = ray.available_resources()
                self.log(
                    f"WARNING: Ray has waited {now - since:.0f} s for resources it cannot "
                    f"grant: {'; '.join(demands)}; the session has CPU {total.get('CPU', 0):g} "
                    f"(free {free.get('CPU', 0):g}), GPU {total.get('GPU', 0):g} "
                    f"(free {free.get('GPU', 0):g}). Nothing runs until they free up"
                    + (f". {self.hint}" if self.hint else "")
                )
