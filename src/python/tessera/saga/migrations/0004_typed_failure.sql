-- How a step failed, typed (compensation branches on it), beside the reason text meant for people. Sagas failed
-- before this migration get theirs from the text the previous version wrote ("<step> timed out").
ALTER TABLE sagas ADD COLUMN failure text NOT NULL DEFAULT '';
UPDATE sagas SET failure = CASE WHEN reason LIKE '% timed out' THEN 'timed_out' ELSE 'refused' END
WHERE failed_step <> '';
