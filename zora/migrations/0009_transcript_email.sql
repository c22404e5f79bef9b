-- The last seq a resolve transcript was emailed for (so a retried activity does not send it twice).
ALTER TABLE conversations ADD COLUMN transcript_sent_upto integer NOT NULL DEFAULT 0;
