"""Tessera: a microservices platform kit and its example order-fulfilment services."""
