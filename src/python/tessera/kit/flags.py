"""Feature flags through OpenFeature, read from a flag file that is re-read when it changes (no restart).

The provider is flagd's in-process file provider: the file uses flagd's flag definition format (variants, a
default variant, JSON-logic targeting), so the same file can later be served by a flagd daemon. In Kubernetes the
file is a mounted ConfigMap; locally it is `.tessera/flags.json`. Without a file, every flag takes the default
given in code, so a missing flag never breaks a service.
"""

from __future__ import annotations

from typing import Protocol

from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext


def configure_flags(path: str | None, *, poll_ms: int = 1000) -> None:
    """Evaluates flags from `path` (checked for changes every `poll_ms`); None keeps the code defaults."""
    if path:
        api.set_provider(
            FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=path, deadline_ms=poll_ms)
        )


class FeatureFlags(Protocol):
    """The port a service layer asks; `targeting_key` (e.g. a customer id) lets a flag roll out to some first."""

    def enabled(self, key: str, default: bool, *, targeting_key: str | None = None) -> bool: ...


class OpenFeatureFlags:
    def __init__(self, client: OpenFeatureClient | None = None) -> None:
        self._client = client or api.get_client()

    def enabled(self, key: str, default: bool, *, targeting_key: str | None = None) -> bool:
        context = EvaluationContext(targeting_key=targeting_key) if targeting_key else None
        return self._client.get_boolean_value(key, default, context)


async def shutdown_flags() -> None:
    api.shutdown()
