"""The payments' SQL migrations."""
