"""The inventory's adapters: Postgres repositories and unit of work, protobuf mapping."""
