"""The saga's adapters: its Postgres state, and the participants over gRPC."""
