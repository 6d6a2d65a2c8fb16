-- Card tokens exchanged at placement for a payment method: the raw token lives here only, until a payment uses it
-- or the method expires (then card_token is NULL). Rows without a token are kept a while for audits, then purged.
CREATE TABLE payment_methods (
    payment_method_id  uuid        PRIMARY KEY,
    customer_id        text        NOT NULL,
    idempotency_key    text        NOT NULL,
    card_token         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    used_at            timestamptz,
    UNIQUE (customer_id, idempotency_key)
);
CREATE INDEX payment_methods_holding_a_token ON payment_methods (expires_at) WHERE card_token IS NOT NULL;
