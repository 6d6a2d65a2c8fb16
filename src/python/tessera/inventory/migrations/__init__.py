"""The inventory's SQL migrations."""
