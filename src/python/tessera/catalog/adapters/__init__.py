"""The catalog's adapters: Postgres repository and unit of work, Redis cache, protobuf mapping."""
