"""The Istio that the mesh runs: istiod and its sidecar's agent (pilot-agent), built from the Go module proxy with
the cluster's other add-ons (binaries.ISTIOD, binaries.PILOT_AGENT).

Istio tags its releases without the `v` a Go module version needs, so the proxy serves `istio.io/istio` only as
pseudo-versions of its master branch; this one is Istio 1.31's development line (its VERSION file), the newest
served.
"""

from __future__ import annotations

ISTIO_MODULE = "istio.io/istio"
ISTIO_VERSION = "v0.0.0-20260827124520-eed52ebb66ad"
ISTIO_TAG = "1.31-dev"  # the tag its images carry here (the chart's global.tag)
STAMPS = {"istio.io/istio/pkg/version.buildVersion": ISTIO_TAG, "istio.io/istio/pkg/version.buildStatus": "Clean"}
