CREATE TABLE stock (
    product_id  uuid   PRIMARY KEY,
    on_hand     bigint NOT NULL CHECK (on_hand >= 0),
    reserved    bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    version     bigint NOT NULL DEFAULT 1,
    -- The database itself refuses to oversell, whatever the code does.
    CONSTRAINT stock_not_oversold CHECK (reserved <= on_hand)
);

CREATE TABLE reservations (
    order_id    text        PRIMARY KEY,
    status      text        NOT NULL CHECK (status IN ('reserved', 'rejected', 'released', 'committed')),
    lines       jsonb       NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
