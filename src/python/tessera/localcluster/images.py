"""Images for a cluster with no registry: built with buildah, exported as archives, imported into containerd.

Pods then use them with `imagePullPolicy: Never` (or IfNotPresent on a fixed tag): nothing is ever pulled.
The cluster's own images (pause, CoreDNS, metrics-server) and the add-ons' (Jaeger, Prometheus, Flagger, KEDA) are a
static binary on an empty base, named as upstream names them (never pulled: only the tag must match).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tessera.localcluster import binaries as cluster_binaries
from tessera.localcluster.binaries import Binaries
from tessera.localinfra.images import Containers
from tessera.localinfra.install import apt_install, cache_dir, file_lock
from tessera.localinfra.process import InfraError

COREDNS_IMAGE = f"registry.k8s.io/coredns/coredns:v{cluster_binaries.COREDNS_VERSION}"
METRICS_SERVER_IMAGE = f"registry.k8s.io/metrics-server/metrics-server:v{cluster_binaries.METRICS_SERVER_VERSION}"
JAEGER_IMAGE = f"docker.io/jaegertracing/jaeger:{cluster_binaries.JAEGER.version}"
PROMETHEUS_IMAGE = f"quay.io/prometheus/prometheus:{cluster_binaries.PROMETHEUS.version}"
FLAGGER_IMAGE = f"ghcr.io/fluxcd/flagger:{cluster_binaries.FLAGGER.version}"
KEDA_IMAGE = f"ghcr.io/kedacore/keda:{cluster_binaries.KEDA_VERSION}"
KEDA_METRICS_SERVER_IMAGE = f"ghcr.io/kedacore/keda-metrics-apiserver:{cluster_binaries.KEDA_VERSION}"
# The securityContext of a container from one of these images (a static program, running as nobody).
RESTRICTED_CONTAINER = (
    "{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: [ALL]}}"
)
# The registry the chart's images are named under here: never pulled, only loaded.
SERVICE_REGISTRY = "tessera.local"


def _pause_binary() -> Path:
    """The pause container's program, from the C source in Kubernetes' module (gcc -static)."""
    target = cache_dir() / "cluster" / f"pause-{cluster_binaries.KUBERNETES_VERSION}"
    if target.exists():
        return target
    if shutil.which("gcc") is None:
        apt_install("gcc", "libc6-dev")
    source = cluster_binaries.kubernetes_module() / "build" / "pause" / "linux" / "pause.c"
    version = cluster_binaries.KUBERNETES_VERSION
    built = subprocess.run(
        ["gcc", "-Os", "-static", "-Wall", f'-DVERSION="{version}"', "-o", str(target), str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if built.returncode != 0:
        raise InfraError(f"building pause failed: {built.stderr[-1500:]}")
    return target


@dataclass(frozen=True)
class ImageLoader:
    binaries: Binaries
    containerd_socket: Path
    work_dir: Path

    def _ctr(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [self.binaries["ctr"], "-a", str(self.containerd_socket), "-n", "k8s.io", *args],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise InfraError(f"ctr {' '.join(args[:3])} failed: {result.stderr.strip()[-1500:]}")
        return result.stdout

    def present(self) -> set[str]:
        return set(self._ctr("images", "ls", "-q").split())

    def import_archive(self, archive: Path) -> None:
        self._ctr("images", "import", "--no-unpack=false", str(archive))

    def load_from_storage(self, containers: Containers, local_name: str, name: str) -> None:
        """Exports an image of buildah's storage under `name` and imports it into the cluster."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.work_dir) as scratch:
            archive = Path(scratch) / "image.tar"
            pushed = containers.buildah("push", "-q", local_name, f"docker-archive:{archive}:{name}")
            if pushed.returncode != 0:
                raise InfraError(f"exporting {local_name} failed: {pushed.stderr[-1500:]}")
            self.import_archive(archive)

    def static_image(self, containers: Containers, name: str, program: Path, args: list[str]) -> None:
        """An image holding one static program on an empty base, running as nobody."""
        # Kept in buildah's storage across clusters under a tag of the program's build (its place in the cache
        # names its build key): a program built again, of the same version but other sources, gets a new image.
        build = hashlib.sha256(str(program).encode()).hexdigest()[:10]
        local = f"localhost/tessera-cluster/{name.rsplit('/', 1)[-1]}-{build}"
        command = "/" + name.rsplit("/", 1)[-1].split(":")[0]
        with file_lock("cluster-images"):
            if containers.buildah("inspect", "--type", "image", local).returncode != 0:
                container = containers.buildah("from", "scratch").stdout.strip()
                try:
                    steps = [
                        ("copy", container, str(program), command),
                        ("config", "--entrypoint", json.dumps([command, *args]), "--user", "65534:65534",
                         container),
                        ("commit", "-q", container, local),
                    ]  # fmt: skip
                    for step in steps:
                        done = containers.buildah(*step)
                        if done.returncode != 0:
                            raise InfraError(f"buildah {step[0]} for {name} failed: {done.stderr[-1500:]}")
                finally:
                    containers.buildah("rm", container)
        self.load_from_storage(containers, local, name)

    def load_system_images(self, pause_image: str) -> None:
        """The cluster's and the add-ons' images, unless containerd has them from an earlier run."""
        present = self.present()
        wanted: dict[str, tuple[Path, list[str]]] = {
            pause_image: (_pause_binary(), []),
            COREDNS_IMAGE: (Path(self.binaries["coredns"]), []),
            METRICS_SERVER_IMAGE: (Path(self.binaries["metrics-server"]), []),
            JAEGER_IMAGE: (Path(self.binaries["jaeger"]), []),
            PROMETHEUS_IMAGE: (Path(self.binaries["prometheus"]), []),
            FLAGGER_IMAGE: (Path(self.binaries["flagger"]), []),
            KEDA_IMAGE: (Path(self.binaries["keda"]), []),
            KEDA_METRICS_SERVER_IMAGE: (Path(self.binaries["keda-metrics-apiserver"]), []),
        }
        missing = {name: spec for name, spec in wanted.items() if name not in present}
        if not missing:
            return
        containers = Containers.prepare()
        for name, (program, args) in missing.items():
            self.static_image(containers, name, program.resolve(), args)

    def kill(self, container_id: str) -> None:
        self._ctr("tasks", "kill", "-s", "SIGKILL", container_id)

    def remove_all_containers(self) -> None:
        """Kills and removes every container of the cluster (pods' sandboxes included), so none outlives it."""
        tasks = self._ctr("tasks", "ls", "-q", check=False).split()
        for task in tasks:
            self._ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
        for task in tasks:
            self._ctr("tasks", "delete", "-f", task, check=False)
        for container in self._ctr("containers", "ls", "-q", check=False).split():
            self._ctr("containers", "delete", container, check=False)
