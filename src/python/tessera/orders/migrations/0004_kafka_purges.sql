-- Kafka still holds the copies of events a data migration rewrote: each partition's records below until_offset
-- are deleted from the topic (Kafka's DeleteRecords) once every consumer group has read past them.
CREATE TABLE order_kafka_purges (
    topic         text        NOT NULL,
    partition     int         NOT NULL,
    until_offset  bigint      NOT NULL,
    planned_at    timestamptz NOT NULL DEFAULT now(),
    done_at       timestamptz,
    PRIMARY KEY (topic, partition)
);
