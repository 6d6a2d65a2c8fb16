"""SQL migrations of the kit's own tables (outbox, processed events); apply with db.apply_migrations."""
