-- Transactional outbox: events are written here in the same transaction as the state change, and relayed
-- to Kafka by outbox.OutboxRelay. Published rows are kept for a while for audits, then purged.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    topic         text        NOT NULL,
    message_key   bytea       NOT NULL,
    payload       bytea       NOT NULL,
    event_id      uuid        NOT NULL UNIQUE,
    event_type    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
