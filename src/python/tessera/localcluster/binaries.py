"""The cluster's binaries: Kubernetes, CoreDNS, Helm and metrics-server, built once from the Go module proxy.

The platform's add-ons in the cluster (Jaeger, Prometheus, Flagger, KEDA, Istio) are Go programs too, built apart from
Kubernetes (`ADDON_PROGRAMS`, the mesh's ISTIOD and PILOT_AGENT): their Kubernetes libraries are of other versions.
Prometheus, KEDA and Istio share one module (`built_together`). (Debian's Prometheus 2.42, which the local stack
runs, is built without Kubernetes service discovery, which the cluster's needs.)

None of them is packaged by Debian or PyPI, and no release download is reachable here, but all are Go modules.
They are built together in one module of our own, so the Kubernetes libraries they share (client-go,
apimachinery, ...) compile once: the versions are chosen so that they all stand on Kubernetes 1.34 (1.35's
kubelet refuses the hybrid cgroup v1 of these machines). A binary already on PATH at the right version is
used as it is.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tessera.localcluster import istio
from tessera.localcluster.kedatrim import KedaScalers
from tessera.localinfra.goprograms import GoProgram, built_together, module_dir
from tessera.localinfra.goprograms import go as _go
from tessera.localinfra.install import apt_install, cache_dir, file_lock
from tessera.localinfra.jaeger import JAEGER
from tessera.localinfra.process import InfraError

KUBERNETES_VERSION = "1.34.4"
HELM_VERSION = "3.19.5"  # the last Helm 3 line built on client-go 0.34
COREDNS_VERSION = "1.13.1"  # likewise
METRICS_SERVER_VERSION = "0.8.0"

PROMETHEUS = GoProgram(
    name="prometheus",
    module="github.com/prometheus/prometheus",
    version="v0.316.0",  # Prometheus 3.16.0
    package="github.com/prometheus/prometheus/cmd/prometheus",
    # Only the service discovery a cluster uses (the others pull in every cloud's SDK); no UI assets (they are
    # built by npm in Prometheus' repository): the HTTP API is complete without them.
    tags=("remove_all_sd", "enable_kubernetes_sd"),
    stamps={"github.com/prometheus/common/version.Version": "3.16.0"},
)
FLAGGER = GoProgram(
    name="flagger",
    module="github.com/fluxcd/flagger",
    version="v1.36.1",
    package="github.com/fluxcd/flagger/cmd/flagger",
)
KEDA_VERSION = "v2.21.0"
_KEDA_STAMPS = {"github.com/kedacore/keda/v2/version.Version": KEDA_VERSION.removeprefix("v")}
# The trigger types KEDA is built with (kedatrim.py): those the chart uses (cpu, memory, prometheus), those of the
# servers the platform runs, and a schedule. A service that scales on another adds it here.
KEDA_TRIGGERS = ("cpu", "memory", "prometheus", "kafka", "postgresql", "redis", "redis-streams", "cron")
_KEDA_OPERATOR = GoProgram(
    name="keda",
    module="github.com/kedacore/keda/v2",
    version=KEDA_VERSION,
    package="github.com/kedacore/keda/v2/cmd/operator",
    stamps=_KEDA_STAMPS,
    edit=KedaScalers(KEDA_TRIGGERS),
)
_KEDA_METRICS_SERVER = dataclasses.replace(
    _KEDA_OPERATOR, name="keda-metrics-apiserver", package="github.com/kedacore/keda/v2/cmd/adapter"
)
# Istio's own build tags (Makefile.core.mk): disable_pgv leaves out Envoy's protoc-gen-validate code, which nothing
# calls; vtprotobuf is istiod's faster marshalling; `agent` leaves the xDS server and Kubernetes out of the agent.
_ISTIOD = GoProgram(
    name="pilot-discovery",
    module=istio.ISTIO_MODULE,
    version=istio.ISTIO_VERSION,
    package="istio.io/istio/pilot/cmd/pilot-discovery",
    tags=("vtprotobuf", "disable_pgv"),
    stamps=istio.STAMPS,
)
_PILOT_AGENT = GoProgram(
    name="pilot-agent",
    module=istio.ISTIO_MODULE,
    version=istio.ISTIO_VERSION,
    package="istio.io/istio/pilot/cmd/pilot-agent",
    tags=("agent", "disable_pgv", "grpcnotrace", "retrynotrace"),
    stamps=istio.STAMPS,
)
# KEDA and Istio stand on the same Kubernetes (0.36) and gRPC lines: built in one module, the libraries they share
# (client-go, apimachinery, gRPC, OpenTelemetry ...) resolve to one version each and compile once: built after
# KEDA, pilot-agent and istiod took 489 CPU-seconds, where in a module of their own they took 902. Tried and left
# apart: Flagger 1.36 (it imports genproto's monitoring/v3, which the newer genproto lacks) and Prometheus 3.14
# (OpenTelemetry collector's confmap no longer compiles against the newer libraries: "undefined: glob.Glob").
KEDA_OPERATOR, KEDA_METRICS_SERVER, ISTIOD, PILOT_AGENT = built_together(
    _KEDA_OPERATOR, _KEDA_METRICS_SERVER, _ISTIOD, _PILOT_AGENT
)
ADDON_PROGRAMS = {
    program.name: program for program in (JAEGER, PROMETHEUS, FLAGGER, KEDA_OPERATOR, KEDA_METRICS_SERVER)
}

KUBE_COMPONENTS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)

_MODULE = "tessera.local/clustertools"
_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", re.MULTILINE)
# tools.go pins the main packages we build from other modules, so `go mod tidy` keeps their requirements.
_TOOLS_GO = """//go:build tools

package tools

import (
\t_ "helm.sh/helm/v3/cmd/helm"
\t_ "sigs.k8s.io/metrics-server/cmd/metrics-server"
)
"""


# Tools Debian packages (by package name): etcd 3.4 still serves Kubernetes 1.34's API server.
DEBIAN_TOOLS = {
    "etcd": "etcd-server",
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "conntrack": "conntrack",
    "iptables": "iptables",
    "socat": "socat",
    "openssl": "openssl",
}


@dataclass(frozen=True)
class Binaries:
    """Paths of the cluster's executables."""

    directory: Path

    def __getitem__(self, name: str) -> str:
        if name in ADDON_PROGRAMS:
            return str(ADDON_PROGRAMS[name].path())
        if name in DEBIAN_TOOLS:
            found = shutil.which(name, path=_SEARCH_PATH)
            if found is None:
                raise InfraError(f"{name} is missing: apt-get install {DEBIAN_TOOLS[name]}")
            return found
        on_path = _on_path_at_version(name)
        return on_path or str(self.directory / name)


def install_debian_tools() -> None:
    """Installs the Debian packages the cluster needs that the machine lacks."""
    missing = {package for tool, package in DEBIAN_TOOLS.items() if not shutil.which(tool, path=_SEARCH_PATH)}
    if not _has_cni_plugins():
        missing.add("containernetworking-plugins")
    if missing:
        apt_install(*sorted(missing))


_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
CNI_DIRS = ("/usr/lib/cni", "/opt/cni/bin")


def cni_bin_dir() -> str:
    """Debian keeps the CNI plugins in /usr/lib/cni (not /opt/cni/bin)."""
    for directory in CNI_DIRS:
        if all(Path(directory, plugin).exists() for plugin in ("bridge", "host-local", "portmap", "loopback")):
            return directory
    raise InfraError("the CNI plugins are missing: apt-get install containernetworking-plugins")


def _has_cni_plugins() -> bool:
    try:
        cni_bin_dir()
    except InfraError:
        return False
    return True


def _expected_version(name: str) -> str:
    if name == "helm":
        return f"v{HELM_VERSION}"
    if name == "coredns":
        return COREDNS_VERSION
    if name == "metrics-server":
        return ""  # reports no usable version: always ours
    return f"v{KUBERNETES_VERSION}"


_VERSION_FLAGS = {"kubectl": ["version", "--client"], "helm": ["version"], "coredns": ["-version"]}


@functools.cache
def _on_path_at_version(name: str) -> str | None:
    """A binary on PATH reporting the version we build (asked once per process: kubectl is called often)."""
    found = shutil.which(name)
    expected = _expected_version(name)
    if found is None or not expected:
        return None
    try:
        shown = subprocess.run(
            [found, *_VERSION_FLAGS.get(name, ["--version"])], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if expected in shown.stdout + shown.stderr else None


def _sources() -> dict[str, str]:
    """Our own Go sources (the multi-call Kubernetes binary, the slim CoreDNS), shipped beside this module."""
    root = resources.files("tessera.localcluster") / "gosrc"
    return {f"cmd/{name}/main.go": (root / name / "main.go").read_text() for name in ("kube", "coredns")}


def kubernetes_module() -> Path:
    """Kubernetes' module, fetched from the Go module proxy (its go.mod, and sources such as pause.c)."""
    return module_dir("k8s.io/kubernetes", f"v{KUBERNETES_VERSION}")


def _staging_modules() -> list[str]:
    """Kubernetes' staging modules, read off its own go.mod (it replaces each with a local directory)."""
    return _STAGING_REPLACE.findall((kubernetes_module() / "go.mod").read_text())


def _go_mod(staging: list[str]) -> str:
    staging_version = "v0." + KUBERNETES_VERSION.split(".", 1)[1]
    lines = [
        f"module {_MODULE}",
        "",
        "go 1.24.0",
        "",
        "godebug default=go1.24",  # as Kubernetes' own go.mod: its code relies on these defaults
        "",
        "require (",
        f"\tk8s.io/kubernetes v{KUBERNETES_VERSION}",
        f"\tgithub.com/coredns/coredns v{COREDNS_VERSION}",
        f"\thelm.sh/helm/v3 v{HELM_VERSION}",
        f"\tsigs.k8s.io/metrics-server v{METRICS_SERVER_VERSION}",
        ")",
        "",
        "replace (",
        *(f"\t{module} => {module} {staging_version}" for module in staging),
        ")",
        "",
    ]
    return "\n".join(lines)


def _ldflags() -> str:
    major, minor, _ = KUBERNETES_VERSION.split(".")
    stamped = {
        "gitVersion": f"v{KUBERNETES_VERSION}",
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    # Without these every binary says v0.0.0-master, and helm's and kubectl's version-skew checks read them.
    flags = [
        f"-X {package}.{key}={value}"
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in stamped.items()
    ]
    flags.append(f"-X helm.sh/helm/v3/internal/version.version=v{HELM_VERSION}")
    flags.append(f"-X github.com/coredns/coredns/coremain.GitCommit=v{COREDNS_VERSION}")
    return " ".join(["-s", "-w", *flags])


def _build_key() -> str:
    text = json.dumps([KUBERNETES_VERSION, HELM_VERSION, COREDNS_VERSION, METRICS_SERVER_VERSION, _sources()])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def prepare(log: Callable[[str], None] = print) -> Binaries:
    """The binaries and the add-ons' programs, building what the cache lacks (cold: ~10 min on 2 cores)."""
    binaries = kubernetes_binaries(log)
    for program in ADDON_PROGRAMS.values():
        program.path(log)
    return binaries


def _kubernetes_dir() -> Path:
    return cache_dir() / "cluster" / f"bin-{_build_key()}"


def kubernetes_built() -> bool:
    return (_kubernetes_dir() / ".complete").exists()


def kubernetes_binaries(log: Callable[[str], None] = print) -> Binaries:
    """Kubernetes' multi-call binary, CoreDNS, Helm and metrics-server, built first if the cache lacks them."""
    try:
        return _kubernetes_binaries(log)
    except InfraError as exc:
        raise InfraError(
            f"building Kubernetes {KUBERNETES_VERSION}, CoreDNS, Helm and metrics-server failed: {exc}"
        ) from exc


def _kubernetes_binaries(log: Callable[[str], None]) -> Binaries:
    target = _kubernetes_dir()
    if (target / ".complete").exists():
        return Binaries(target)
    with file_lock("cluster-binaries"):
        if (target / ".complete").exists():
            return Binaries(target)
        started = time.monotonic()
        log(f"building Kubernetes {KUBERNETES_VERSION}, CoreDNS, Helm and metrics-server from the Go module proxy")
        log("(once, into the cache; about 5 minutes on 2 cores)")
        work = cache_dir() / "cluster" / "gomodule"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "go.mod").write_text(_go_mod(_staging_modules()))
        (work / "tools.go").write_text(_TOOLS_GO)
        for relative, text in _sources().items():
            (work / relative).parent.mkdir(parents=True, exist_ok=True)
            (work / relative).write_text(text)
        _go("mod", "tidy", cwd=work)
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        _go(
            "build", "-trimpath", "-ldflags", _ldflags(), "-o", str(staging) + "/",
            "./cmd/kube", "./cmd/coredns", "helm.sh/helm/v3/cmd/helm", "sigs.k8s.io/metrics-server/cmd/metrics-server",
            cwd=work,
        )  # fmt: skip
        for component in KUBE_COMPONENTS:
            (staging / component).symlink_to("kube")
        (staging / ".complete").write_text(f"built in {time.monotonic() - started:.0f} s\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        log(f"built in {time.monotonic() - started:.0f} s: {target}")
    return Binaries(target)
