"""The edit that builds KEDA with some of its scalers, on a module shaped as KEDA's (its builder and scalers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.localcluster.kedatrim import CARRIED_CONSTANTS, KedaScalers, TrimError

_BUILDER = """package scaling

func buildScaler(ctx context.Context, triggerType string, config *scalersconfig.ScalerConfig) (scalers.Scaler, error) {
\t// TRIGGERS-START
\tswitch triggerType {
\tcase "aws-sqs-queue":
\t\treturn scalers.NewAwsSqsQueueScaler(ctx, config)
\t// TODO: a comment of KEDA's among the cases
\tcase "cpu":
\t\treturn scalers.NewCPUMemoryScaler(corev1.ResourceCPU, config)
\tcase "memory":
\t\treturn scalers.NewCPUMemoryScaler(corev1.ResourceMemory, config)
\tcase "prometheus":
\t\treturn scalers.NewPrometheusScaler(config)
\tdefault:
\t\treturn nil, fmt.Errorf("no scaler found for type: %s", triggerType)
\t}
\t// TRIGGERS-END
}
"""
_SQS = """package scalers

import "github.com/aws/aws-sdk-go-v2/service/sqs"

const (
\texternalMetricType = "External"
\tsqsQueueLength     = 5
\tlocalName          = "shadowed"
)

func NewAwsSqsQueueScaler(ctx context.Context, config *scalersconfig.ScalerConfig) (Scaler, error) {}
"""
_PROMETHEUS = """package scalers

const localName = "declared here too"

// sqsQueueLength is named in this comment only, and in "sqsQueueLength" a string.
func NewPrometheusScaler(config *scalersconfig.ScalerConfig) (Scaler, error) {
\treturn v2.MetricSpec{Type: externalMetricType}, localName
}
"""


def _module(root: Path) -> Path:
    (root / "pkg/scaling").mkdir(parents=True)
    (root / "pkg/scaling/scalers_builder.go").write_text(_BUILDER)
    scalers = root / "pkg/scalers"
    scalers.mkdir()
    for name, text in {"aws_sqs_queue_scaler": _SQS, "prometheus_scaler": _PROMETHEUS}.items():
        (scalers / f"{name}.go").write_text(text)
        (scalers / f"{name}_test.go").write_text("package scalers\n")
    (scalers / "cpu_memory_scaler.go").write_text("package scalers\n\nfunc NewCPUMemoryScaler() {}\n")
    return root


def test_keeps_the_chosen_triggers_and_deletes_the_scalers_only_the_others_use(tmp_path: Path) -> None:
    module = _module(tmp_path)
    KedaScalers(("cpu", "memory", "prometheus")).apply(module)

    builder = (module / "pkg/scaling/scalers_builder.go").read_text()
    assert '"aws-sqs-queue"' not in builder and "NewAwsSqsQueueScaler" not in builder
    assert all(f'case "{kept}":' in builder for kept in ("cpu", "memory", "prometheus"))
    assert "no scaler found for type" in builder and builder.endswith("// TRIGGERS-END\n}\n")
    left = sorted(path.name for path in (module / "pkg/scalers").iterdir())
    assert left == [
        "cpu_memory_scaler.go", "prometheus_scaler.go", "prometheus_scaler_test.go", CARRIED_CONSTANTS
    ]  # fmt: skip


def test_constants_a_kept_scaler_shared_with_a_deleted_one_are_declared_again_and_no_others(tmp_path: Path) -> None:
    module = _module(tmp_path)
    KedaScalers(("cpu", "memory", "prometheus")).apply(module)
    carried = (module / "pkg/scalers" / CARRIED_CONSTANTS).read_text()
    assert 'externalMetricType = "External"' in carried
    assert "sqsQueueLength" not in carried  # named only in a comment and a string
    assert "localName" not in carried  # still declared by a kept file


def test_a_trigger_keda_lacks_or_sources_of_another_shape_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TrimError, match="no scaler for rabbitmq"):
        KedaScalers(("cpu", "rabbitmq")).apply(_module(tmp_path / "a"))
    other = _module(tmp_path / "b")
    (other / "pkg/scaling/scalers_builder.go").write_text("package scaling\n")
    with pytest.raises(TrimError, match="switch triggerType"):
        KedaScalers(("cpu",)).apply(other)
