-- A saga pays with the payment method payments issued at placement; it never holds a card token. Sagas running
-- when this migration runs lose their token: their payment is declined and the order rejected (placed again).
ALTER TABLE sagas ADD COLUMN payment_method_id text NOT NULL DEFAULT '';
ALTER TABLE sagas ALTER COLUMN payment_method_id DROP DEFAULT;
ALTER TABLE sagas DROP COLUMN card_token;
