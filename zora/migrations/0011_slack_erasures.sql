-- What a compliance redaction must still delete in Slack (the shopper's messages and files Zora posted
-- there, the conversation cards). Written in the redaction's own transaction, worked through by the
-- shopify_erase_in_slack activity: a shop with many conversations never puts its whole list through
-- Temporal (payloads are limited to 2 MiB). Not tied to shops: shop/redact deletes the shop row.
CREATE TABLE slack_erasures (
    id          bigserial PRIMARY KEY,
    batch       uuid NOT NULL,
    channel_id  text,
    ts          text,
    file_id     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((channel_id IS NOT NULL AND ts IS NOT NULL) OR file_id IS NOT NULL)
);
CREATE INDEX slack_erasures_batch ON slack_erasures (batch, id);
