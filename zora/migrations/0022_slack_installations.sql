-- Issue 11 §2: each shop connects its own Slack workspace through Slack's OAuth ("Add to Slack").

-- Zora's app in one workspace (or one Enterprise Grid organisation): what bolt's installation store
-- keeps. The bot token is sealed (zora.security.seal) like the Shopify token: a copy of the database
-- alone does not speak to anyone's Slack.
CREATE TABLE slack_installations (
    id                    bigserial PRIMARY KEY,
    -- '' rather than NULL outside Enterprise Grid (and for an org-wide install's team), so the pair is a key.
    enterprise_id         text NOT NULL DEFAULT '',
    team_id               text NOT NULL DEFAULT '',
    is_enterprise_install boolean NOT NULL DEFAULT false,
    enterprise_name       text,
    team_name             text,
    app_id                text,
    bot_id                text,
    bot_user_id           text,
    bot_token             text NOT NULL,
    bot_scopes            text[] NOT NULL DEFAULT '{}',
    -- The Slack user who clicked "Allow".
    installed_by          text,
    installed_at          timestamptz NOT NULL DEFAULT now(),
    -- Set by app_uninstalled / tokens_revoked: the token is dead until someone installs again.
    revoked_at            timestamptz,
    UNIQUE (enterprise_id, team_id)
);

-- OAuth states (bolt's state store): one per "Add to Slack" a merchant started from the admin page,
-- naming the shop that started it (the admin session token said so). Single use, short-lived.
CREATE TABLE slack_oauth_states (
    state       text PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    consumed_at timestamptz
);

-- The Enterprise Grid organisation of the shop's workspace (shops.slack_team_id is the workspace).
ALTER TABLE shops ADD COLUMN slack_enterprise_id text;
