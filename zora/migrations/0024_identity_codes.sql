-- Issue 12 §4: a shopper proves an order's email to the assistant with a 6-digit code sent there.
-- Only a bcrypt hash of the code is kept. One code per conversation is live at a time (a new one
-- retires the one before), it works for 10 minutes, once, and for 5 wrong tries at most. A code the
-- shopper typed right marks its email proven for that conversation (`proven_at`): the order tools then
-- answer for orders placed with that email. The rows are also the rate limit's count of codes sent.
CREATE TABLE identity_codes (
    id              bigserial PRIMARY KEY,
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    -- Lower-cased, as parsed by zora.addresses.
    email           text NOT NULL,
    -- bcrypt of the 6 digits (cost 12). An email that has no order in the shop gets a row too, with the
    -- hash of a code nobody was sent: the answer and the rate limit are the same either way.
    code_hash       text NOT NULL,
    expires_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    -- Spent: proven, out of tries, or retired by a newer code.
    used_at         timestamptz,
    proven_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identity_codes_conversation ON identity_codes (conversation_id, created_at);
CREATE INDEX identity_codes_email ON identity_codes (shop_id, email, created_at);
