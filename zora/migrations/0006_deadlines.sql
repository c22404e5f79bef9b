-- Reminders already posted for the current wait of a conversation (so a retry never posts twice).
ALTER TABLE conversations
    ADD COLUMN reminder_level integer NOT NULL DEFAULT 0,
    ADD COLUMN reminder_for   timestamptz;
