-- PlaceOrder's idempotency keys: a retry with the same key finds the first order.
CREATE TABLE order_idempotency_keys (
    idempotency_key  text        PRIMARY KEY,
    order_id         text        NOT NULL,
    fingerprint      text        NOT NULL,  -- of the request's fields, to refuse a key reused for another order
    created_at       timestamptz NOT NULL DEFAULT now()
);
