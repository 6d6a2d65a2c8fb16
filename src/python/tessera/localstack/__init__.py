"""The whole platform on one machine, without Docker: real PostgreSQL, Redis and Kafka plus every service."""
