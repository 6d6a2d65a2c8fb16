"""What a cluster changes on its host, recorded before it starts and put back when it stops.

kubelet sets vm.overcommit_memory, kernel.panic and kernel.panic_on_oops and adds iptables chains; kube-proxy
sets route_localnet and adds its chains; pod networking needs ip_forward. The record is a JSON file in the
state directory, so `down` restores the host even after the process that started the cluster died.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tessera.localinfra.process import InfraError

SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "vm/overcommit_memory",
    "kernel/panic",
    "kernel/panic_on_oops",
)
TABLES = ("filter", "nat", "mangle")
# Chains our cluster's components add: kubelet and kube-proxy (KUBE-*), the CNI plugins (CNI-*).
_OURS = re.compile(r"^(KUBE-|CNI-)")


def _read_sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None


def write_sysctl(name: str, value: str) -> None:
    Path("/proc/sys", name).write_text(value)


def chains(binary: str, table: str) -> set[str]:
    listed = subprocess.run([binary, "-t", table, "-S"], capture_output=True, text=True, check=False)
    return {line.split()[1] for line in listed.stdout.splitlines() if line.startswith("-N ")}


@dataclass(frozen=True)
class HostRecord:
    path: Path

    def save(self, bridge: str) -> None:
        """Records the host's settings, unless a record of an earlier run not yet restored is there."""
        if self.path.exists():
            return
        record = {
            "sysctls": {name: _read_sysctl(name) for name in SYSCTLS},
            "chains": {binary: {table: sorted(chains(binary, table)) for table in TABLES} for binary in _binaries()},
            "bridge": bridge,
            "cgroups": sorted(str(path) for path in _kubelet_cgroups()),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(record, indent=1))

    def restore(self) -> list[str]:
        """Puts back the sysctls, removes the chains and bridge the cluster added; returns what it did."""
        if not self.path.exists():
            return []
        record = json.loads(self.path.read_text())
        done = []
        for name, value in record["sysctls"].items():
            if value is not None and _read_sysctl(name) != value:
                write_sysctl(name, value)
                done.append(f"{name.replace('/', '.')}={value}")
        for binary, tables in record["chains"].items():
            for table, before in tables.items():
                removed = _remove_chains(binary, table, keep=set(before))
                done.extend(f"{binary} -t {table} -X {chain}" for chain in removed)
                stayed = {c for c in chains(binary, table) - set(before) if _OURS.match(c)}
                done.extend(f"could not remove {binary} -t {table} {c} (still referenced)" for c in sorted(stayed))
        for path in _kubelet_cgroups() - {Path(p) for p in record.get("cgroups", [])}:
            done.append(f"rmdir {path}" if _remove_cgroup_tree(path) else f"could not remove {path} (still busy)")
        bridge = record.get("bridge")
        if bridge and Path("/sys/class/net", bridge).exists():
            subprocess.run(["ip", "link", "delete", bridge], check=False, capture_output=True)
            done.append(f"ip link delete {bridge}")
        self.path.unlink()
        return done


def _remove_chains(binary: str, table: str, keep: set[str]) -> list[str]:
    """Removes our chains not in `keep`; returns those removed (a chain still referenced stays, and is not named)."""
    added = sorted(chain for chain in chains(binary, table) - keep if _OURS.match(chain))
    if not added:
        return []
    # First the rules of other chains that jump into ours, then ours (flushed, then deleted).
    rules = subprocess.run([binary, "-t", table, "-S"], capture_output=True, text=True, check=False).stdout
    for line in rules.splitlines():
        parts = shlex.split(line)  # comments are quoted
        if parts[:1] == ["-A"] and parts[1] not in added and any(chain in parts for chain in added):
            subprocess.run([binary, "-t", table, "-D", *parts[1:]], check=False, capture_output=True)
    for chain in added:
        subprocess.run([binary, "-t", table, "-F", chain], check=False, capture_output=True)
    for chain in added:
        subprocess.run([binary, "-t", table, "-X", chain], check=False, capture_output=True)
    left = chains(binary, table)
    return [chain for chain in added if chain not in left]


def _binaries() -> list[str]:
    return [binary for binary in ("iptables", "ip6tables") if shutil.which(binary)]


def remove_stale_chains() -> list[str]:
    """Removes the chains a cluster of an earlier run left behind (it was killed before it could restore the host).

    KUBE-* and CNI-* chains with no kubelet or kube-proxy running on the host belong to no cluster. Without this,
    the next run's record would count them as the host's own and keep them for good. Returns what it removed.
    """
    if _processes_named("kubelet", "kube-proxy"):
        return []
    return [
        f"{binary} -t {table} -X {chain}"
        for binary in _binaries()
        for table in TABLES
        for chain in _remove_chains(binary, table, keep=set())
    ]


def _processes_named(*names: str) -> bool:
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() in names:
                return True
    return False


def _kubelet_cgroups() -> set[Path]:
    """The kubelet's cgroup trees (cgroupfs driver, cgroup v1: one per controller)."""
    return set(Path("/sys/fs/cgroup").glob("*/kubepods"))


def _remove_cgroup_tree(root: Path, timeout: float = 20.0) -> bool:
    """Removes a cgroup tree, deepest first, once its processes are gone.

    A cgroup can only be removed (rmdir) when no process is left in it. Containers killed a moment ago may still
    be exiting, and a process that outlived its shim is killed here: within the timeout, we wait for the state
    rather than for a fixed time.
    """
    deadline = time.monotonic() + timeout
    while True:
        for pid in _cgroup_pids(root):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        removed_all = True
        for directory, _, _ in sorted(os.walk(root), key=lambda entry: len(entry[0]), reverse=True):
            try:
                os.rmdir(directory)
            except FileNotFoundError:
                continue
            except OSError:
                removed_all = False
        if removed_all or time.monotonic() > deadline:
            return removed_all
        time.sleep(0.2)


def _cgroup_pids(root: Path) -> set[int]:
    pids: set[int] = set()
    for procs in root.rglob("cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(line) for line in procs.read_text().split())
    return pids


def require_root() -> None:
    if os.geteuid() != 0:
        raise InfraError(
            "the local cluster must run as root: it starts a kubelet and containerd and changes iptables "
            "(they are restored when it stops)"
        )
    try:
        write_sysctl("net/ipv4/ip_forward", _read_sysctl("net/ipv4/ip_forward") or "0")
    except OSError as exc:
        raise InfraError(
            f"cannot write sysctls here ({exc}): the cluster needs CAP_NET_ADMIN and CAP_SYS_ADMIN"
        ) from exc


def ensure_bridge(name: str, gateway_cidr: str) -> None:
    """The pods' bridge, made before any pod so the data stores can listen on its address from the start."""
    if not Path("/sys/class/net", name).exists():
        subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True, capture_output=True)
    shown = subprocess.run(["ip", "-4", "addr", "show", "dev", name], capture_output=True, text=True, check=True)
    if gateway_cidr.split("/")[0] not in shown.stdout:
        subprocess.run(["ip", "addr", "add", gateway_cidr, "dev", name], check=True, capture_output=True)
    subprocess.run(["ip", "link", "set", name, "up"], check=True, capture_output=True)
