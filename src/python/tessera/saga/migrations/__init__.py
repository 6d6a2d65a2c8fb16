"""The saga's SQL migrations."""
