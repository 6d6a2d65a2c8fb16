"""The payments' adapters: Postgres repository and unit of work, protobuf mapping."""
