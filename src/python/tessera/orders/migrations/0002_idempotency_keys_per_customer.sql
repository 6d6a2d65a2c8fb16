-- Idempotency keys are each customer's own: the same key from two customers names two orders.
-- Keys claimed before this migration are kept under the empty customer: they served retries of requests made
-- before the upgrade, and no request after it (its customer comes from a token) can match them.
ALTER TABLE order_idempotency_keys ADD COLUMN customer_id text NOT NULL DEFAULT '';
ALTER TABLE order_idempotency_keys ALTER COLUMN customer_id DROP DEFAULT;
ALTER TABLE order_idempotency_keys DROP CONSTRAINT order_idempotency_keys_pkey;
ALTER TABLE order_idempotency_keys ADD PRIMARY KEY (customer_id, idempotency_key);
