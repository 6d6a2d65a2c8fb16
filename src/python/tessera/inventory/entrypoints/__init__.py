"""The inventory's entry points: its gRPC API."""
