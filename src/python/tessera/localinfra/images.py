"""Building and running the service images without a Docker engine: buildah and podman (Debian's packages).

No registry is reachable here, so the base image is made locally: a minimal Debian bookworm (whose python3 is
CPython 3.11, what the PEXes are built for) by debootstrap, imported once as `localhost/tessera-base:bookworm`.
Users with a registry build the same Dockerfile on `python:3.11-slim` (its default base).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tessera.localinfra.install import apt_install, cache_dir, file_lock
from tessera.localinfra.process import InfraError

BASE_IMAGE = "localhost/tessera-base:bookworm"
DEBIAN_MIRROR = os.environ.get("TESSERA_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def storage_driver() -> str:
    """overlay where the kernel has it and we are root: a layer is stored once and a step mounts the ones below it.
    Elsewhere vfs, which needs neither but copies the whole file system at every step (a service image took 140 s
    with it here, 54 s with overlay). TESSERA_STORAGE_DRIVER chooses one."""
    if chosen := os.environ.get("TESSERA_STORAGE_DRIVER"):
        return chosen
    has_overlay = "\toverlay\n" in Path("/proc/filesystems").read_text()
    return "overlay" if has_overlay and os.geteuid() == 0 else "vfs"


@dataclass(frozen=True)
class Containers:
    """buildah and podman on one private storage, shared with the docker shim that Pants builds images through."""

    root: Path
    driver: str

    @classmethod
    def prepare(cls) -> Containers:
        if not all(shutil.which(tool) for tool in ("buildah", "podman", "debootstrap", "runc")):
            apt_install("buildah", "podman", "debootstrap", "runc")
        return cls(cache_dir() / "containers", storage_driver())

    def storage_options(self) -> list[str]:
        """One storage per driver: neither opens the other's."""
        # A storage records its run root and refuses another: this scheme's storages are new folders.
        storage = self.root / f"images-{self.driver}"
        # podman refuses a run root longer than 50 characters, which a cache under a long HOME exceeds: the run
        # root (locks and mounts, gone at a reboot) is a short one in the temp directory, one per storage.
        run = Path(tempfile.gettempdir()) / f"tessera-run-{hashlib.sha256(bytes(storage)).hexdigest()[:10]}"
        return ["--storage-driver", self.driver, "--root", str(storage), "--runroot", str(run)]

    def buildah(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["buildah", *self.storage_options(), *args], capture_output=True, text=True, check=False)

    def podman(self, *args: str) -> subprocess.CompletedProcess[str]:
        runtime = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]
        return subprocess.run(
            ["podman", *self.storage_options(), *runtime, *args], capture_output=True, text=True, check=False
        )

    def ensure_base(self) -> str:
        """The local base image (debootstrap once, ~1 min; then reused from the cache)."""
        with file_lock("base-image"):
            if self.buildah("inspect", "--type", "image", BASE_IMAGE).returncode == 0:
                return BASE_IMAGE
            rootfs = cache_dir() / "bookworm-rootfs"
            if not (rootfs / "usr" / "bin" / "python3").exists():
                shutil.rmtree(rootfs, ignore_errors=True)
                made = subprocess.run(
                    ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(rootfs), DEBIAN_MIRROR],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                if made.returncode != 0:
                    raise InfraError(f"debootstrap failed: {made.stdout[-1500:]}{made.stderr[-1500:]}")
            container = _checked(self.buildah("from", "scratch")).strip()
            try:
                _checked(self.buildah("copy", container, str(rootfs), "/"))
                _checked(self.buildah("commit", "-q", container, BASE_IMAGE))
            finally:
                self.buildah("rm", container)
        return BASE_IMAGE

    def build(self, context: Path, dockerfile: Path, tag: str, build_args: dict[str, str]) -> str:
        """Builds like `docker build` (RUN steps in a chroot); returns the image id."""
        args = [f"--build-arg={key}={value}" for key, value in build_args.items()]
        built = _checked(
            self.buildah("bud", "--isolation", "chroot", "--pull=never", "-q", *args, "-t", tag, "-f", str(dockerfile),
                         str(context))
        )  # fmt: skip
        return built.strip().splitlines()[-1]


def _checked(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode != 0:
        raise InfraError(f"{' '.join(result.args[:6])}... failed: {result.stderr[-2000:]}")
    return result.stdout


def main() -> None:
    """Prints the local base image's name, making it first if needed: `BASE_IMAGE=$(... base-image)`."""
    print(Containers.prepare().ensure_base())


def shim_options(local_base: bool) -> None:
    """For build-support/docker-shim: makes the local base if the build needs it, prints podman's storage options."""
    containers = Containers.prepare()
    if local_base:
        containers.ensure_base()
    print(" ".join(containers.storage_options()))


if __name__ == "__main__":
    main()
