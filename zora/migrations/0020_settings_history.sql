-- Issue 11 §3: every save of a shop's settings from the admin page is one versioned change (who, when,
-- old -> new), listed as history and undoable.

-- The version the stored settings are at: a save names the version it was based on, so two people
-- editing at once cannot silently overwrite each other (the second gets 409 and reloads).
ALTER TABLE shops ADD COLUMN settings_version integer NOT NULL DEFAULT 0;

CREATE TABLE shop_settings_history (
    shop_id      bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    -- The version this change produced (shops.settings_version after it).
    version      integer NOT NULL CHECK (version > 0),
    -- Who saved it: the session token's `sub` (a Shopify staff user id), or 'cli'.
    changed_by   text NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    old_settings jsonb NOT NULL,
    new_settings jsonb NOT NULL,
    -- Set when this change restored what an earlier version held (an undo).
    restored_from integer,
    PRIMARY KEY (shop_id, version)
);
