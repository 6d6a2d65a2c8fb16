"""The gateway's adapters: gRPC clients of the services behind it."""
