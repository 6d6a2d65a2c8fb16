-- The fingerprints of keys claimed before idempotency keys became per customer hashed the request with its card
-- token. Those keys (the empty customer) can match no request any more: their fingerprints go.
UPDATE order_idempotency_keys SET fingerprint = '' WHERE customer_id = '';
