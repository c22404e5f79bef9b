-- The Slack side: per-shop settings, edits and deletes of agent replies.

-- Merchant settings as one validated document (zora/shop_settings.py holds the schema and defaults),
-- so a new setting needs no migration and a missing key means "the default".
ALTER TABLE shops ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'::jsonb;

ALTER TABLE messages
    ADD COLUMN edited_at  timestamptz,
    ADD COLUMN deleted_at timestamptz;
