-- Mail that could not go out is recorded where it belongs, so nothing retries it forever and ops
-- can see why: a refused address or a 5xx reply (permanent), or a transient failure given up after
-- the workflow's bounded retries.
ALTER TABLE email_digests DROP CONSTRAINT email_digests_status_check;
ALTER TABLE email_digests ADD CONSTRAINT email_digests_status_check CHECK (status IN ('sending', 'sent', 'failed'));
ALTER TABLE email_digests ADD COLUMN error text;
-- Why the last resolve transcript was not emailed (NULL once one goes out).
ALTER TABLE conversations ADD COLUMN transcript_error text;

-- The minute sweep (activities/conversation.py, UNDELIVERED_SQL) looks for shopper messages still
-- waiting for Slack. They are a handful among all messages ever written: a partial index holds only
-- those, so the sweep reads a few index entries instead of the whole table. Its predicate is implied
-- by the sweep's WHERE (each arm of its OR picks one of these statuses).
CREATE INDEX messages_waiting_for_sweep ON messages (created_at)
    WHERE direction = 'shopper' AND status IN ('stored', 'undelivered');
