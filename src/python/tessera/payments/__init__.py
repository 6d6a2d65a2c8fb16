"""The payments service: authorize, capture, void and refund, each idempotent by key (a simulated acquirer)."""
