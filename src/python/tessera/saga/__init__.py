"""The order saga: drives each placed order through stock, payment and confirmation, compensating on failure."""
