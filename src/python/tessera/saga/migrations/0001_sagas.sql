-- One row per order saga: its state survives the worker. A worker drives a saga only while it holds the lease;
-- a saga whose lease expired (its worker died) is picked up again by any worker.
CREATE TABLE sagas (
    order_id      text        PRIMARY KEY,
    state         text        NOT NULL,
    lines         jsonb       NOT NULL,
    total_cents   bigint      NOT NULL,
    currency      char(3)     NOT NULL,
    card_token    text        NOT NULL,
    payment_id    text        NOT NULL DEFAULT '',
    reason        text        NOT NULL DEFAULT '',
    failed_step   text        NOT NULL DEFAULT '',
    lease_owner   text,
    lease_until   timestamptz,
    started_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX sagas_unfinished ON sagas (lease_until) WHERE state NOT IN ('completed', 'rejected');
