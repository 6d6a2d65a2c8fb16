-- Event store for event-sourced aggregates: one stream per aggregate, versions 1, 2, 3 ... without gaps.
-- The primary key is the optimistic-concurrency check: two writers appending the same version cannot both win.
CREATE TABLE event_store (
    stream_id     text        NOT NULL,
    version       bigint      NOT NULL CHECK (version > 0),
    event_id      uuid        NOT NULL UNIQUE,
    event_type    text        NOT NULL,
    envelope      bytea       NOT NULL,  -- the events.v1.EventEnvelope, exactly as published
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, version)
);
