"""memory_limiter's limit_percentage follows the container: the cgroup limit (v1 and v2) found as a
container, a Kubernetes pod and a systemd service present it, read from fake /proc/self and cgroup
trees laid out in a temporary directory as the kernel lays them out."""

from __future__ import annotations

import psutil

from otel_lite.collector.processors.memory_limiter import (
    MIB,
    MemoryLimiterConfig,
    cgroup_memory_limit,
    total_memory_bytes,
)

V1_UNLIMITED = "9223372036854771712"  # what v1 writes for "no limit" (2^63 rounded down to a page)


def lay_out(tmp_path, cgroup: str, mounts: list[tuple[str, str, str, str]], files: dict[str, str]) -> str:
    """A fake /proc/self (``cgroup``; ``mountinfo`` from (root, mount dir, fstype, super options))
    and the cgroup files under tmp_path; returns the fake /proc/self."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    lines = []
    for i, (root, mount_dir, fstype, options) in enumerate(mounts):
        lines.append(
            f"{30 + i} 23 0:{28 + i} {root} {tmp_path / mount_dir} rw,relatime shared:9 - {fstype} cgroup {options}"
        )
    (proc / "mountinfo").write_text("\n".join(lines) + "\n")
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return str(proc)


def test_v2_container_limit(tmp_path):
    # a container with its own cgroup namespace: its cgroup is the mount's root
    proc = lay_out(tmp_path, "0::/\n", [("/", "cg", "cgroup2", "rw")], {"cg/memory.max": str(512 * MIB)})
    assert cgroup_memory_limit(proc) == 512 * MIB
    assert total_memory_bytes(proc) == 512 * MIB


def test_v2_max_means_physical_memory(tmp_path):
    proc = lay_out(tmp_path, "0::/\n", [("/", "cg", "cgroup2", "rw")], {"cg/memory.max": "max"})
    assert cgroup_memory_limit(proc) is None
    assert total_memory_bytes(proc) == psutil.virtual_memory().total


def test_v2_systemd_service_limit_below_the_root(tmp_path):
    # no cgroup namespace (a systemd unit with MemoryMax=): the unit's cgroup deep in the host tree
    proc = lay_out(
        tmp_path,
        "0::/system.slice/otel-lite-collector.service\n",
        [("/", "cg", "cgroup2", "rw,nsdelegate")],
        {
            "cg/system.slice/memory.max": "max",
            "cg/system.slice/otel-lite-collector.service/memory.max": str(256 * MIB),
        },
    )
    assert cgroup_memory_limit(proc) == 256 * MIB


def test_v2_an_ancestors_lower_limit_wins(tmp_path):
    # Kubernetes limits the pod's cgroup too: the container's own may be unlimited or higher
    proc = lay_out(
        tmp_path,
        "0::/kubepods/burstable/pod1/ctr\n",
        [("/", "cg", "cgroup2", "rw")],
        {
            "cg/kubepods/burstable/pod1/memory.max": str(1024 * MIB),
            "cg/kubepods/burstable/pod1/ctr/memory.max": "max",
        },
    )
    assert cgroup_memory_limit(proc) == 1024 * MIB


def test_v1_container_mount_rooted_at_its_cgroup(tmp_path):
    # v1 has no cgroup namespace in most runtimes: /proc/self/cgroup shows the host path, and the
    # container's memory mount is rooted at it, so the limit is at the mount point itself
    host_path = "/kubepods/burstable/pod1/0123abcd"
    proc = lay_out(
        tmp_path,
        f"12:pids:{host_path}\n4:memory:{host_path}\n1:name=systemd:{host_path}\n",
        [(host_path, "memory", "cgroup", "rw,memory"), (host_path, "pids", "cgroup", "rw,pids")],
        {"memory/memory.limit_in_bytes": str(768 * MIB), "pids/pids.max": "max"},
    )
    assert cgroup_memory_limit(proc) == 768 * MIB


def test_v1_unlimited_is_no_limit(tmp_path):
    proc = lay_out(
        tmp_path,
        "4:memory:/\n",
        [("/", "memory", "cgroup", "rw,memory")],
        {"memory/memory.limit_in_bytes": V1_UNLIMITED},
    )
    assert cgroup_memory_limit(proc) is None
    assert total_memory_bytes(proc) == psutil.virtual_memory().total


def test_hybrid_layout_takes_the_v1_memory_controller(tmp_path):
    # systemd's hybrid layout: v1 controllers plus an empty cgroup2 at unified/ (no memory.max there)
    proc = lay_out(
        tmp_path,
        "4:memory:/process_api/42\n0::/\n",
        [("/", "memory", "cgroup", "rw,memory"), ("/", "unified", "cgroup2", "rw")],
        {
            "memory/memory.limit_in_bytes": V1_UNLIMITED,
            "memory/process_api/memory.limit_in_bytes": V1_UNLIMITED,
            "memory/process_api/42/memory.limit_in_bytes": str(300 * MIB),
            "unified/cgroup.controllers": "",
        },
    )
    assert cgroup_memory_limit(proc) == 300 * MIB


def test_no_cgroup_files_means_physical_memory(tmp_path):
    assert cgroup_memory_limit(str(tmp_path / "absent")) is None
    assert total_memory_bytes(str(tmp_path / "absent")) == psutil.virtual_memory().total


def test_percentages_apply_to_the_container_limit(tmp_path):
    # the Helm chart's memory_limiter settings in a 2 GiB container
    proc = lay_out(tmp_path, "0::/\n", [("/", "cg", "cgroup2", "rw")], {"cg/memory.max": str(2048 * MIB)})
    cfg = MemoryLimiterConfig.from_mapping(
        {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 25}
    )
    hard, soft = cfg.limits(total_memory=total_memory_bytes(proc))
    assert hard == 2048 * MIB * 80 // 100
    assert soft == hard - 2048 * MIB * 25 // 100


def test_this_machine():
    # whatever this machine's layout is, the answer is a real amount no larger than physical memory
    assert 0 < total_memory_bytes() <= psutil.virtual_memory().total
