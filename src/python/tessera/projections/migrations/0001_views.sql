-- Views of the read side. Each row carries the version of the stream it reflects; an event updates a row only
-- if it is newer, which makes projecting idempotent and a rebuild safe to run beside the live projection.
CREATE TABLE order_summaries (
    order_id       text        PRIMARY KEY,
    customer_id    text        NOT NULL,
    status         text        NOT NULL,
    total_cents    bigint      NOT NULL,
    currency       char(3)     NOT NULL,
    item_count     bigint      NOT NULL,
    reject_reason  text        NOT NULL DEFAULT '',
    version        bigint      NOT NULL,
    placed_at      timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX order_summaries_by_customer ON order_summaries (customer_id, placed_at DESC, order_id);

CREATE TABLE stock_views (
    product_id  text        PRIMARY KEY,
    on_hand     bigint      NOT NULL,
    reserved    bigint      NOT NULL,
    available   bigint      NOT NULL,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL
);
