"""The gateway's entry points: the REST API and the GraphQL API, served by one FastAPI app."""
