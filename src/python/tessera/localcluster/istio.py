"""Istio's control plane (istiod) and its sidecar's agent (pilot-agent), built once from the Go module proxy.

Istio tags its releases without the `v` a Go module version needs, so the proxy serves `istio.io/istio` only as
pseudo-versions of its master branch; this one is Istio 1.31's development line (its VERSION file), the newest
served. Both programs come from the same module at the same version, each in a module of its own with the same
requirements, so the libraries they share compile once (the Go build cache).
"""

from __future__ import annotations

from tessera.localinfra.goprograms import GoProgram

ISTIO_MODULE = "istio.io/istio"
ISTIO_VERSION = "v0.0.0-20260827124520-eed52ebb66ad"
ISTIO_TAG = "1.31-dev"  # the tag its images carry here (the chart's global.tag)
_STAMPS = {"istio.io/istio/pkg/version.buildVersion": ISTIO_TAG, "istio.io/istio/pkg/version.buildStatus": "Clean"}

# Istio's own build tags (Makefile.core.mk): disable_pgv leaves out Envoy's protoc-gen-validate code, which nothing
# calls; vtprotobuf is istiod's faster marshalling; `agent` leaves the xDS server and Kubernetes out of the agent.
ISTIOD = GoProgram(
    name="pilot-discovery",
    module=ISTIO_MODULE,
    version=ISTIO_VERSION,
    package="istio.io/istio/pilot/cmd/pilot-discovery",
    tags=("vtprotobuf", "disable_pgv"),
    stamps=_STAMPS,
)
PILOT_AGENT = GoProgram(
    name="pilot-agent",
    module=ISTIO_MODULE,
    version=ISTIO_VERSION,
    package="istio.io/istio/pilot/cmd/pilot-agent",
    tags=("agent", "disable_pgv", "grpcnotrace", "retrynotrace"),
    stamps=_STAMPS,
)
