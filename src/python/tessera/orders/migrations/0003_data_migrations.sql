-- Data migrations written in Python (they rewrite protobuf payloads SQL cannot read), each run once.
CREATE TABLE order_data_migrations (
    name         text        PRIMARY KEY,
    finished_at  timestamptz NOT NULL DEFAULT now()
);
