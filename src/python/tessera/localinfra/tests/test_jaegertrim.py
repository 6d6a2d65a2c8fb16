"""The edit that builds Jaeger with some of its collector components, on a file shaped as Jaeger's components.go."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.localinfra.jaegertrim import JaegerComponents, JaegerTrimError

_COMPONENTS = """package internal

import (
\t"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter"
\t"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckv2extension"
\t"go.opentelemetry.io/collector/component"
\t"go.opentelemetry.io/collector/exporter"
\t"go.opentelemetry.io/collector/extension"
\totlp "go.opentelemetry.io/collector/receiver/otlpreceiver"
\t"go.opentelemetry.io/collector/receiver"

\t"github.com/jaegertracing/jaeger/cmd/jaeger/internal/exporters/storageexporter"
\t"github.com/jaegertracing/jaeger/cmd/jaeger/internal/extension/jaegerquery"
)

type builders struct {
\textension func(factories ...extension.Factory) (map[component.Type]extension.Factory, error)
\treceiver  func(factories ...receiver.Factory) (map[component.Type]receiver.Factory, error)
\texporter  func(factories ...exporter.Factory) (map[component.Type]exporter.Factory, error)
}

func (b builders) build() error {
\tb.extension(
\t\thealthcheckv2extension.NewFactory(),
\t\tjaegerquery.NewFactory(), // the query API
\t)
\tb.receiver(
\t\totlp.NewFactory(),
\t)
\tb.exporter(
\t\tstorageexporter.NewFactory(),
\t\tkafkaexporter.NewFactory(),
\t\t// elasticsearch.NewFactory(),
\t)
}
"""


def _module(root: Path) -> Path:
    components = root / "cmd/jaeger/internal/components.go"
    components.parent.mkdir(parents=True)
    components.write_text(_COMPONENTS)
    return components


def test_the_factories_not_kept_leave_with_their_imports(tmp_path: Path) -> None:
    components = _module(tmp_path)
    JaegerComponents(("healthcheckv2extension", "otlp", "storageexporter")).apply(tmp_path)
    text = components.read_text()
    assert "jaegerquery" not in text and "kafkaexporter" not in text
    for kept in ("\t\thealthcheckv2extension.NewFactory(),", "\t\totlp.NewFactory(),", "storageexporter.NewFactory()"):
        assert kept in text
    # Imports used by the types stay, an aliased import by its alias; comments are left as they were.
    for used in ('"go.opentelemetry.io/collector/component"', '"go.opentelemetry.io/collector/extension"', "\totlp "):
        assert used in text
    assert "// elasticsearch.NewFactory()," in text


def test_a_component_the_file_does_not_register_fails_the_build_by_name(tmp_path: Path) -> None:
    _module(tmp_path)
    with pytest.raises(JaegerTrimError, match="zipkinreceiver"):
        JaegerComponents(("otlp", "zipkinreceiver")).apply(tmp_path)


def test_a_file_of_another_shape_fails_the_build(tmp_path: Path) -> None:
    components = _module(tmp_path)
    components.write_text("package internal\n\nfunc Components() {}\n")
    with pytest.raises(JaegerTrimError, match="no factory"):
        JaegerComponents(("otlp",)).apply(tmp_path)
