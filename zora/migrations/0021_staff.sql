-- Issue 11 §5: staff who sign in to Zora itself (self-hosters, staff without Shopify admin rights).
-- Sessions and refresh tokens live in Redis (zora/staff.py); what must outlive a Redis flush is here.

CREATE TABLE staff_accounts (
    id            bigserial PRIMARY KEY,
    shop_id       bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    -- Stored lower-case; one account per address (the sign-in form asks for no shop).
    email         text NOT NULL UNIQUE CHECK (email = lower(email)),
    -- bcrypt; NULL while an invitation is not yet accepted (nobody can sign in then).
    password_hash text,
    role          text NOT NULL CHECK (role IN ('owner', 'agent')),
    -- Bumped on every password change: access tokens carry it, so older ones stop working.
    password_version integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_accounts_shop ON staff_accounts (shop_id);

-- The 6-digit code emailed at sign-in, keyed by a random challenge id the browser holds. Only a hash
-- of the code is kept; a challenge dies when used, expired or out of attempts.
CREATE TABLE staff_sign_in_codes (
    challenge   text PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES staff_accounts(id) ON DELETE CASCADE,
    code_hash   text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX staff_sign_in_codes_account ON staff_sign_in_codes (account_id);

-- Invitations: the link carries a random token; only its hash is kept. Single use.
CREATE TABLE staff_invitations (
    token_hash  text PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES staff_accounts(id) ON DELETE CASCADE,
    invited_by  text NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
