-- Agent replies Slack never delivered are fetched by the minute sweep (activities/backfill.py): how far
-- each thread has been read (a Slack ts), and when, so each run reads the threads read longest ago.
ALTER TABLE slack_threads ADD COLUMN backfilled_ts text, ADD COLUMN backfilled_at timestamptz;

-- The sweep looks only at conversations still open; most rows are closed ones.
CREATE INDEX conversations_open_backfill ON conversations (id) WHERE status IN ('open', 'assigned');
