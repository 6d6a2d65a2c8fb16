"""The read models' SQL migrations."""
