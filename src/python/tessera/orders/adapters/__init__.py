"""The orders' adapters: event-sourced Postgres repository, catalog client, protobuf mapping."""
