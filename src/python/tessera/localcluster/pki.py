"""The cluster's certificates and kubeconfigs, made with openssl (Debian's) once per state directory.

One CA signs everything: serving certificates of the API server and the kubelet, and a client certificate per
component whose subject is the identity RBAC knows it by (system:kube-scheduler, system:node:<node> ...).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tessera.localinfra.process import InfraError

# Client identities: file stem -> (common name, organisation).
_CLIENTS = {
    "admin": ("tessera-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "kube-proxy": ("system:kube-proxy", ""),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
    # The aggregation layer's client (the API server calling metrics-server on a user's behalf).
    "front-proxy-client": ("front-proxy-client", ""),
}


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise InfraError("openssl is missing (apt-get install openssl)")
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InfraError(f"openssl {args[0]} failed: {result.stderr[-1500:]}")


@dataclass(frozen=True)
class Pki:
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    def _issue(self, stem: str, subject: str, *, sans: list[str], usage: str) -> None:
        if self.path(f"{stem}.crt").exists():
            return
        extensions = [
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            f"extendedKeyUsage={usage}",
        ]
        if sans:
            extensions.append("subjectAltName=" + ",".join(sans))
        (self.directory / f"{stem}.ext").write_text("\n".join(extensions) + "\n")
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{stem}.key", cwd=self.directory)
        _openssl("req", "-new", "-key", f"{stem}.key", "-subj", subject, "-out", f"{stem}.csr", cwd=self.directory)
        _openssl(
            "x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "3650", "-sha256", "-extfile", f"{stem}.ext", "-out", f"{stem}.crt",
            cwd=self.directory,
        )  # fmt: skip

    def ensure(self, *, node_name: str, node_ip: str, service_ip: str) -> Pki:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.path("ca.crt").exists():
            _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=self.directory)
            _openssl(
                "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=tessera-local-cluster-ca", "-days", "3650",
                "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", "-out", "ca.crt",
                cwd=self.directory,
            )  # fmt: skip
        if not self.path("sa.key").exists():
            # The key pair that signs and verifies service-account tokens.
            _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key", cwd=self.directory)
            _openssl("ec", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=self.directory)
        names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
        self._issue(
            "apiserver",
            "/CN=kube-apiserver",
            sans=[*(f"DNS:{n}" for n in [*names, "localhost", node_name]), f"IP:{node_ip}", f"IP:{service_ip}",
                  "IP:127.0.0.1"],
            usage="serverAuth",
        )  # fmt: skip
        self._issue(
            "kubelet-serving", f"/CN={node_name}", sans=[f"DNS:{node_name}", f"IP:{node_ip}"], usage="serverAuth"
        )
        self._issue("kubelet", f"/O=system:nodes/CN=system:node:{node_name}", sans=[], usage="clientAuth")
        for stem, (common_name, organisation) in _CLIENTS.items():
            subject = (f"/O={organisation}" if organisation else "") + f"/CN={common_name}"
            self._issue(stem, subject, sans=[], usage="clientAuth")
        return self

    def kubeconfig(self, stem: str, server: str, target: Path) -> Path:
        """A kubeconfig for the identity of `<stem>.crt` (certificates embedded, so the file stands alone)."""

        def encoded(name: str) -> str:
            return base64.b64encode(self.path(name).read_bytes()).decode()

        target.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: tessera\n  cluster:\n    server: {server}\n"
            f"    certificate-authority-data: {encoded('ca.crt')}\n"
            f"users:\n- name: {stem}\n  user:\n    client-certificate-data: {encoded(stem + '.crt')}\n"
            f"    client-key-data: {encoded(stem + '.key')}\n"
            f"contexts:\n- name: tessera\n  context: {{cluster: tessera, user: {stem}}}\n"
            "current-context: tessera\n"
        )
        target.chmod(0o600)
        return target
