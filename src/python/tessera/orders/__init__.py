"""The orders service: an event-sourced order aggregate with an audit trail, driven by the order saga."""
