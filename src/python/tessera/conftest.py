"""Fixtures for every test under src/python/tessera."""

from tessera.testing.fixtures import infra, kafka_bootstrap, postgres_dsn, redis_url, topic_prefix

__all__ = ["infra", "kafka_bootstrap", "postgres_dsn", "redis_url", "topic_prefix"]
