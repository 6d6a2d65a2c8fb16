"""The catalog's entry points: its gRPC API."""
