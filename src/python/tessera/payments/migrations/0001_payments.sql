CREATE TABLE payments (
    payment_id       uuid        PRIMARY KEY,
    idempotency_key  text        NOT NULL UNIQUE,
    order_id         text        NOT NULL,
    amount_cents     bigint      NOT NULL CHECK (amount_cents > 0),
    currency         char(3)     NOT NULL,
    status           text        NOT NULL
                     CHECK (status IN ('authorized', 'declined', 'captured', 'voided', 'refunded')),
    decline_reason   text        NOT NULL DEFAULT '',
    version          bigint      NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_by_order ON payments (order_id);
