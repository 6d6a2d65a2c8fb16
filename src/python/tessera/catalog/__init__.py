"""The catalog service: products and their prices, over gRPC; Postgres rows, Redis read cache, Kafka events."""
