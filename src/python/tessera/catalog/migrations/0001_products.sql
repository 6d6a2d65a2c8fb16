CREATE TABLE products (
    product_id   uuid        PRIMARY KEY,
    sku          text        NOT NULL UNIQUE,
    name         text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    price_cents  bigint      NOT NULL CHECK (price_cents >= 0),
    currency     char(3)     NOT NULL,
    version      bigint      NOT NULL CHECK (version > 0),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
