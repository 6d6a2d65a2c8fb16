"""The payments' entry points: its gRPC API."""
