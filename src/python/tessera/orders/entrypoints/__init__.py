"""The orders' entry points: its gRPC API."""
