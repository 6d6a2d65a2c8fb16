-- The trace of the order that started the saga: a worker resuming it after a crash continues that trace.
ALTER TABLE sagas ADD COLUMN traceparent text NOT NULL DEFAULT '';
