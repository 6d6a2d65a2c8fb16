"""A single-node Kubernetes as processes of this machine: etcd, the control plane, containerd, a kubelet, CNI and
kube-proxy, then CoreDNS and metrics-server as pods. Everything lives in one state directory.

The pods' bridge (`tessera0`, 10.244.0.1) is made first and is the node's address: the API server, the kubelet and
the data stores listen on it, so pods reach them and nothing listens on the machine's own network.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tessera.localcluster import addons, host
from tessera.localcluster import binaries as cluster_binaries
from tessera.localcluster.binaries import Binaries
from tessera.localcluster.encryption import ensure_encryption_config
from tessera.localcluster.images import ImageLoader
from tessera.localcluster.pki import Pki
from tessera.localinfra.process import InfraError, free_port, port_open, spawn, stop_process, tail, wait_until

BRIDGE = "tessera0"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
API_PORT = 6443
KUBELET_PORT = 10250
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


@dataclass
class Component:
    name: str
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class LocalCluster:
    """Start with `start()`, stop with `stop()`; `stop()` also cleans up after a cluster whose owner died."""

    state_dir: Path
    binaries: Binaries
    log: Callable[[str], None] = print
    node_name: str = field(default_factory=lambda: socket.gethostname().lower())
    components: list[Component] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    # --- paths ---------------------------------------------------------------------------------------------
    @property
    def pki(self) -> Pki:
        return Pki(self.state_dir / "pki")

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def containerd_socket(self) -> Path:
        return self.state_dir / "run" / "containerd.sock"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def host_record(self) -> host.HostRecord:
        return host.HostRecord(self.state_dir / "host-settings.json")

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        result = subprocess.run(
            [self.binaries["kubectl"], "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise InfraError(f"kubectl {' '.join(args[:4])} failed: {result.stderr.strip()[-2000:]}")
        return result.stdout

    def apply(self, manifests: str, *, server_side: bool = False) -> None:
        """`kubectl apply` of YAML manifests (server-side for objects too large for client-side apply's annotation)."""
        mode = ["--server-side", "--force-conflicts"] if server_side else []
        applied = subprocess.run(
            [self.binaries["kubectl"], "--kubeconfig", str(self.kubeconfig), "apply", *mode, "-f", "-"],
            input=manifests, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if applied.returncode != 0:
            raise InfraError(f"kubectl apply failed: {applied.stderr.strip()[-2000:]}")

    def service_url(self, namespace: str, name: str, port_name: str) -> str:
        """http://<ClusterIP>:<port> of a Service: the host reaches ClusterIPs through kube-proxy's rules."""
        shown = json.loads(self.kubectl("get", "service", name, "-n", namespace, "-o", "json"))
        port = next(p["port"] for p in shown["spec"]["ports"] if p["name"] == port_name)
        return f"http://{shown['spec']['clusterIP']}:{port}"

    def memory_mib(self) -> dict[str, float]:
        """Resident memory of the cluster's own processes (etcd, control plane, containerd, kubelet, kube-proxy)
        and of all its pods (the anonymous RSS of their cgroup, cgroup v1 as on these machines)."""
        processes = sum(_rss_bytes(c.proc.pid) for c in self.components if c.proc and c.proc.poll() is None)
        pods = 0
        with contextlib.suppress(OSError):
            stat = Path("/sys/fs/cgroup/memory/kubepods/memory.stat").read_text().split("\n")
            pods = sum(int(line.split()[1]) for line in stat if line.startswith("total_rss "))
        mib = 1024 * 1024
        return {"cluster processes": round(processes / mib), "pods": round(pods / mib),
                "total": round((processes + pods) / mib)}  # fmt: skip

    # --- start ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        host.require_root()
        for port in (API_PORT, KUBELET_PORT):
            if not _port_free(port):
                raise InfraError(f"port {port} is already taken: is another cluster running? (stop it first)")
        began = time.monotonic()
        for directory in ("run", "logs", "etcd", "cni/net.d", "cni/ipam", "kubelet", "pod-logs", "containerd"):
            (self.state_dir / directory).mkdir(parents=True, exist_ok=True)
        if not self.host_record.path.exists():  # a record of ours still there is restored by our own stop
            for change in host.remove_stale_chains():
                self.log(f"removed what an earlier cluster left: {change}")
        self.host_record.save(BRIDGE)
        host.write_sysctl("net/ipv4/ip_forward", "1")
        host.ensure_bridge(BRIDGE, f"{NODE_IP}/24")
        self.pki.ensure(node_name=self.node_name, node_ip=NODE_IP, service_ip=API_SERVICE_IP)
        server = f"https://{NODE_IP}:{API_PORT}"
        for stem in ("admin", "controller-manager", "scheduler", "kube-proxy", "kubelet"):
            self.pki.kubeconfig(stem, server, self.state_dir / f"{stem}.kubeconfig")
        self.pki.kubeconfig("admin", server, self.kubeconfig)
        self._start_etcd()
        self._start_apiserver()
        self.timings["apiserver ready"] = time.monotonic() - began
        self._start_controllers()
        self._start_containerd()
        ImageLoader(self.binaries, self.containerd_socket, self.state_dir / "images").load_system_images(PAUSE_IMAGE)
        self._start_kubelet()
        self._wait(lambda: "True" in self.kubectl(
            "get", "node", self.node_name, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
            check=False), 120, "the node to be Ready", interval=1)  # fmt: skip
        self.timings["node ready"] = time.monotonic() - began
        self._start_kube_proxy()
        addons.apply(self, dns_ip=DNS_SERVICE_IP)
        self.timings["cluster ready"] = time.monotonic() - began

    def _spawn(self, name: str, args: list[str]) -> Component:
        component = Component(name, args)
        component.proc = spawn(args, log_file=self.logs / f"{name}.log")
        (self.state_dir / "run" / f"{name}.pid").write_text(str(component.proc.pid))
        self.components.append(component)
        return component

    def _wait(
        self,
        ready: Callable[[], bool],
        timeout: float,
        what: str,
        component: Component | None = None,
        interval: float = 0.05,
    ) -> None:
        alive = None
        if component is not None and component.proc is not None:
            proc = component.proc
            alive = lambda: proc.poll() is None  # noqa: E731
        try:
            wait_until(ready, timeout=timeout, what=what, alive=alive, interval=interval)
        except InfraError as exc:
            logs = (
                f"\n--- {component.name} log ---\n{tail(self.logs / f'{component.name}.log', 40)}" if component else ""
            )
            raise InfraError(f"{exc}{logs}") from exc

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        etcd = self._spawn("etcd", [
            self.binaries["etcd"], "--name", "tessera", "--data-dir", str(self.state_dir / "etcd"),
            "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer}", "--initial-cluster", f"tessera=http://127.0.0.1:{peer}",
            "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}", "--quota-backend-bytes", str(2 * 1024**3),
        ])  # fmt: skip
        self._wait(lambda: port_open(client), 30, "etcd", etcd)

    def etcd_value(self, key: str) -> bytes | None:
        """The value etcd holds under `key` (e.g. /registry/secrets/<namespace>/<name>), as the API server stored it;
        read through etcd's JSON gateway, bypassing the API server."""
        request = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
        with urllib.request.urlopen(f"{self.etcd_url}/v3/kv/range", data=request, timeout=10) as answer:
            found = json.load(answer).get("kvs", [])
        return base64.b64decode(found[0]["value"]) if found else None

    def _api_ready(self, path: str = "/readyz") -> bool:
        context = ssl.create_default_context(cafile=str(self.pki.path("ca.crt")))
        context.load_cert_chain(self.pki.path("admin.crt"), self.pki.path("admin.key"))
        try:
            with urllib.request.urlopen(f"https://{NODE_IP}:{API_PORT}{path}", context=context, timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def _start_apiserver(self) -> None:
        pki = self.pki.path
        apiserver = self._spawn("kube-apiserver", [
            self.binaries["kube-apiserver"], f"--etcd-servers={self.etcd_url}",
            f"--bind-address={NODE_IP}", f"--advertise-address={NODE_IP}", f"--secure-port={API_PORT}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", f"--client-ca-file={pki('ca.crt')}",
            f"--tls-cert-file={pki('apiserver.crt')}", f"--tls-private-key-file={pki('apiserver.key')}",
            f"--kubelet-client-certificate={pki('apiserver-kubelet-client.crt')}",
            f"--kubelet-client-key={pki('apiserver-kubelet-client.key')}",
            f"--service-account-key-file={pki('sa.pub')}", f"--service-account-signing-key-file={pki('sa.key')}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            # The aggregation layer, for metrics-server's metrics.k8s.io (HPA on CPU and memory).
            f"--requestheader-client-ca-file={pki('ca.crt')}", "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki('front-proxy-client.crt')}",
            f"--proxy-client-key-file={pki('front-proxy-client.key')}", "--enable-aggregator-routing=true",
            # The node's name resolves to the loopback here: reach kubelets by their InternalIP.
            "--kubelet-preferred-address-types=InternalIP", "--profiling=false", "--event-ttl=30m",
            f"--encryption-provider-config={ensure_encryption_config(self.pki.directory)}",
        ])  # fmt: skip
        self._wait(self._api_ready, 90, "kube-apiserver", apiserver)

    def _start_controllers(self) -> None:
        pki = self.pki.path
        manager = self.state_dir / "controller-manager.kubeconfig"
        scheduler = self.state_dir / "scheduler.kubeconfig"
        self._spawn("kube-controller-manager", [
            self.binaries["kube-controller-manager"], f"--kubeconfig={manager}",
            f"--authentication-kubeconfig={manager}", f"--authorization-kubeconfig={manager}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--leader-elect=false",
            f"--cluster-signing-cert-file={pki('ca.crt')}", f"--cluster-signing-key-file={pki('ca.key')}",
            f"--root-ca-file={pki('ca.crt')}", f"--service-account-private-key-file={pki('sa.key')}",
            "--use-service-account-credentials", "--allocate-node-cidrs", f"--cluster-cidr={CLUSTER_CIDR}",
            "--node-cidr-mask-size=24", f"--service-cluster-ip-range={SERVICE_CIDR}", "--profiling=false",
        ])  # fmt: skip
        self._spawn("kube-scheduler", [
            self.binaries["kube-scheduler"], f"--kubeconfig={scheduler}", f"--authentication-kubeconfig={scheduler}",
            f"--authorization-kubeconfig={scheduler}", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            "--leader-elect=false", "--profiling=false",
        ])  # fmt: skip

    def _start_containerd(self) -> None:
        base = self.state_dir
        cni = {
            "cniVersion": "0.4.0",
            "name": "tessera",
            "plugins": [
                {
                    "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
                    "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                             "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(base / "cni" / "ipam")},
                },  # fmt: skip
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (base / "cni" / "net.d" / "10-tessera.conflist").write_text(json.dumps(cni, indent=1))
        config = f"""version = 2
root = "{base / 'containerd' / 'root'}"
state = "{base / 'containerd' / 'state'}"
[grpc]
  address = "{self.containerd_socket}"
[ttrpc]
  address = "{self.containerd_socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj, and every sandbox would fail.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cluster_binaries.cni_bin_dir()}"
    conf_dir = "{base / 'cni' / 'net.d'}"
"""
        (base / "containerd.toml").write_text(config)
        containerd = self._spawn("containerd", [self.binaries["containerd"], "--config", str(base / "containerd.toml")])
        self._wait(self.containerd_socket.exists, 30, "containerd", containerd)

    def _start_kubelet(self) -> None:
        base = self.state_dir
        pki = self.pki.path
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": NODE_IP,
            "port": KUBELET_PORT,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "tlsCertFile": str(pki("kubelet-serving.crt")),
            "tlsPrivateKeyFile": str(pki("kubelet-serving.key")),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(pki("ca.crt"))},
            },
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs",
            "failSwapOn": False,
            "failCgroupV1": False,  # these machines are hybrid cgroup v1
            "clusterDNS": [DNS_SERVICE_IP],
            "clusterDomain": "cluster.local",
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "podLogsDir": str(base / "pod-logs"),
            "resolvConf": "",  # pods get the cluster DNS only; nothing resolves through the host
            # No registry is reachable: images that were loaded must never be garbage-collected.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "200Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
            "serializeImagePulls": False,
            # How often mounted ConfigMaps are refreshed (default 1 min): flag changes reach pods in seconds.
            "syncFrequency": "10s",
            "rotateCertificates": False,
            "protectKernelDefaults": False,
        }
        (base / "kubelet.yaml").write_text(json.dumps(config, indent=1))
        self._spawn("kubelet", [
            self.binaries["kubelet"], f"--config={base / 'kubelet.yaml'}",
            f"--kubeconfig={base / 'kubelet.kubeconfig'}", f"--root-dir={base / 'kubelet'}",
            f"--node-ip={NODE_IP}", f"--hostname-override={self.node_name}",
        ])  # fmt: skip

    def _start_kube_proxy(self) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clusterCIDR": CLUSTER_CIDR,
            "hostnameOverride": self.node_name,
            "bindAddress": NODE_IP,
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            "clientConnection": {"kubeconfig": str(self.state_dir / "kube-proxy.kubeconfig")},
            # Leave the host's conntrack sysctls alone, and node ports off the loopback (no route_localnet).
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "iptables": {"localhostNodePorts": False},
        }
        (self.state_dir / "kube-proxy.yaml").write_text(json.dumps(config, indent=1))
        self._spawn("kube-proxy", [self.binaries["kube-proxy"], f"--config={self.state_dir / 'kube-proxy.yaml'}"])

    def kill_container(self, container_id: str) -> None:
        """SIGKILL to one container, as an out-of-memory kill or a crash would end it."""
        ImageLoader(self.binaries, self.containerd_socket, self.state_dir / "images").kill(container_id)

    # --- stop ----------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stops every component (also those of an earlier run found by their pid files), removes the pods'
        containers, network namespaces and mounts, and restores the host's settings."""
        running = {c.name: c for c in self.components}
        order = ["kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager", "kube-apiserver"]
        for name in order:
            self._stop_component(name, running.get(name))
        if self.containerd_socket.exists():
            ImageLoader(self.binaries, self.containerd_socket, self.state_dir / "images").remove_all_containers()
        self._stop_component("containerd", running.get("containerd"))
        # kube-apiserver first, then etcd: etcd gone first makes the API server ignore SIGTERM for a minute.
        self._stop_component("etcd", running.get("etcd"))
        self.components.clear()
        _unmount_below(self.state_dir)
        _delete_pod_netns(self.state_dir)
        # The next start is a new cluster: a release, canaries or scaled replicas left in etcd would come back
        # with it. containerd's images and the certificates stay (they make the next start fast).
        for directory in ("etcd", "kubelet", "pod-logs", "cni/ipam"):
            shutil.rmtree(self.state_dir / directory, ignore_errors=True)
        for change in self.host_record.restore():
            self.log(f"restored: {change}")

    def _stop_component(self, name: str, component: Component | None) -> None:
        pid_file = self.state_dir / "run" / f"{name}.pid"
        began = time.monotonic()
        # The cluster is being removed: nothing to drain, so a component gets a few seconds, not minutes.
        if component is not None and component.proc is not None:
            stop_process(component.proc, timeout=5)
        elif pid_file.exists():
            stop_process_group(int(pid_file.read_text()), timeout=5)
        pid_file.unlink(missing_ok=True)
        if (took := time.monotonic() - began) > 3:
            self.log(f"{name} took {took:.0f} s to stop")


def _rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)


def _port_free(port: int) -> bool:
    """Whether nothing listens on `port` on any address: a bind, never a connection (the node's address may
    not exist yet, and a connection to it would leave the machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def stop_process_group(pid: int, timeout: float = 20, first: signal.Signals = signal.SIGTERM) -> None:
    """Stops a process group started by another process (its leader's pid was recorded)."""
    for sig, wait in ((first, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _group_alive(pid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies waiting for their parent do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _unmount_below(directory: Path) -> None:
    """Unmounts what the kubelet and containerd mounted in the state directory (secrets, rootfs), deepest first."""
    root = str(directory.resolve())
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p == root or p.startswith(root + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _delete_pod_netns(state_dir: Path) -> None:
    """Pod network namespaces left by containers that were killed (CNI never got their DEL)."""
    ipam = state_dir / "cni" / "ipam"
    netns = Path("/var/run/netns")
    if netns.exists():
        for entry in netns.glob("cni-*"):
            subprocess.run(["ip", "netns", "delete", entry.name], check=False, capture_output=True)
    if ipam.exists():
        for lease in ipam.rglob("*"):
            if lease.is_file() and lease.name[0].isdigit():
                lease.unlink()
