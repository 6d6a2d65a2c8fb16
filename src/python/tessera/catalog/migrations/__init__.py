"""The catalog's SQL migrations."""
