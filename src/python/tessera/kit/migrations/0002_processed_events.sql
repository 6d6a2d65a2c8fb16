-- Event ids a consumer has already applied: the dedupe that turns at-least-once delivery into exactly-once
-- effects. Insert the id in the same transaction as the effect.
CREATE TABLE processed_events (
    consumer      text        NOT NULL,
    event_id      uuid        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
