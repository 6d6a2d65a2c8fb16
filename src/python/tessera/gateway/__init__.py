"""The API gateway: REST (with OpenAPI) and GraphQL for client apps, calling the services over gRPC only."""
