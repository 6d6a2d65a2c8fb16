"""The orders' SQL migrations (the event store itself is the kit's)."""
