"""What a pod needs from the kit to run as deployed: its version on every log line, span and the service_info
metric, and stream processors that write nowhere but the temp dir (a pod's root filesystem is read-only)."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tessera.kit.config import KafkaSettings
from tessera.kit.logs import configure_logging
from tessera.kit.metrics import SERVICE_INFO
from tessera.kit.streams import create_faust_app


def test_log_lines_carry_the_service_and_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("orders", version="1.4.2")
    logging.getLogger("tessera.test").warning("something happened")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["service"], line["version"]) == ("orders", "1.4.2")


def test_service_info_names_the_version() -> None:
    SERVICE_INFO.labels(service="orders", version="1.4.2").set(1)
    assert REGISTRY.get_sample_value("service_info", {"service": "orders", "version": "1.4.2"}) == 1


def test_stream_apps_keep_their_data_in_the_temp_dir_and_create_topics_as_configured() -> None:
    kafka = KafkaSettings(kafka_bootstrap="127.0.0.1:9", kafka_partitions=7, kafka_replication=2)
    app = create_faust_app("order-saga", kafka)
    datadir = Path(app.conf.datadir)
    assert datadir.is_absolute() and datadir.parent == Path(tempfile.gettempdir())
    assert (app.conf.topic_partitions, app.conf.topic_replication_factor) == (7, 2)
