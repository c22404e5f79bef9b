-- Shopify: install state of a shop, the webhook inbox, synced customers/orders/products,
-- reconciliation watermarks and compliance exports. Every row belongs to a shop.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Install state. The offline access token is a credential: it is never logged, and
-- app/uninstalled clears it (data stays until shop/redact).
ALTER TABLE shops
    ADD COLUMN shopify_shop_id bigint,
    ADD COLUMN access_token    text,
    ADD COLUMN scopes          text[] NOT NULL DEFAULT '{}',
    ADD COLUMN currency        text,
    ADD COLUMN installed_at    timestamptz,
    ADD COLUMN uninstalled_at  timestamptz;

-- Deliveries as Shopify sent them. `id` is X-Shopify-Webhook-Id (the same on every retry of one
-- delivery); the (event_id, topic) index catches the same event delivered again under a new id.
CREATE TABLE shopify_webhooks (
    id           text PRIMARY KEY,
    event_id     text,
    topic        text NOT NULL,
    shop_domain  text NOT NULL,
    api_version  text,
    triggered_at timestamptz,
    -- Cleared once processed: personal data lives in the synced tables, not in a log of deliveries.
    payload      jsonb,
    status       text NOT NULL DEFAULT 'received'
                 CHECK (status IN ('received', 'processed', 'stale', 'ignored', 'unsupported', 'failed')),
    detail       text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
CREATE UNIQUE INDEX shopify_webhooks_event ON shopify_webhooks (event_id, topic) WHERE event_id IS NOT NULL;
CREATE INDEX shopify_webhooks_shop ON shopify_webhooks (shop_domain, received_at);

-- Customers come from Shopify (webhooks, reconciliation). `shopify_updated_at` guards every upsert;
-- `deleted_at` is a tombstone so a late update cannot bring a deleted customer back.
ALTER TABLE customers
    ADD COLUMN first_name         text,
    ADD COLUMN last_name          text,
    ADD COLUMN phone              text,
    ADD COLUMN tags               text[] NOT NULL DEFAULT '{}',
    ADD COLUMN note               text,
    ADD COLUMN state              text,
    ADD COLUMN currency           text,
    ADD COLUMN city               text,
    ADD COLUMN country            text,
    ADD COLUMN shopify_created_at timestamptz,
    ADD COLUMN shopify_updated_at timestamptz,
    ADD COLUMN synced_at          timestamptz,
    ADD COLUMN deleted_at         timestamptz,
    ADD COLUMN redacted_at        timestamptz;
-- Search: trigram indexes answer "contains" and typo-tolerant name/email lookups; phone by digits.
CREATE INDEX customers_name_trgm ON customers USING gin (lower(coalesce(name, '')) gin_trgm_ops);
CREATE INDEX customers_email_trgm ON customers USING gin (lower(coalesce(email, '')) gin_trgm_ops);
CREATE INDEX customers_phone_digits ON customers (shop_id, (regexp_replace(coalesce(phone, ''), '\D', '', 'g')));
CREATE INDEX customers_tags ON customers USING gin (tags);

CREATE TABLE shopify_orders (
    shop_id             bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    shopify_order_id    bigint NOT NULL,
    shopify_customer_id bigint,
    name                text NOT NULL,
    order_number        bigint,
    email               text,
    phone               text,
    financial_status    text,
    fulfillment_status  text,
    currency            text,
    total_price         numeric(14, 2) NOT NULL DEFAULT 0,
    -- After refunds and edits; what the order is worth now.
    current_total_price numeric(14, 2) NOT NULL DEFAULT 0,
    cancelled_at        timestamptz,
    cancel_reason       text,
    closed_at           timestamptz,
    processed_at        timestamptz,
    test                boolean NOT NULL DEFAULT false,
    tags                text[] NOT NULL DEFAULT '{}',
    -- [{title, quantity, price, sku, product_id}] and [{status, company, number, url, created_at}]
    line_items          jsonb NOT NULL DEFAULT '[]',
    fulfillments        jsonb NOT NULL DEFAULT '[]',
    shipping_address    jsonb,
    shopify_created_at  timestamptz,
    shopify_updated_at  timestamptz,
    synced_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz,
    PRIMARY KEY (shop_id, shopify_order_id)
);
CREATE INDEX shopify_orders_customer ON shopify_orders (shop_id, shopify_customer_id, processed_at DESC);
CREATE INDEX shopify_orders_number ON shopify_orders (shop_id, order_number);
CREATE INDEX shopify_orders_name ON shopify_orders (shop_id, lower(name));

CREATE TABLE shopify_products (
    shop_id            bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    shopify_product_id bigint NOT NULL,
    title              text NOT NULL,
    handle             text,
    vendor             text,
    product_type       text,
    status             text,
    tags               text[] NOT NULL DEFAULT '{}',
    -- [{id, title, sku, price}]
    variants           jsonb NOT NULL DEFAULT '[]',
    shopify_created_at timestamptz,
    shopify_updated_at timestamptz,
    synced_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz,
    PRIMARY KEY (shop_id, shopify_product_id)
);

-- Reconciliation: records changed since `watermark` are paged in on the next run.
CREATE TABLE shopify_sync_state (
    shop_id     bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    resource    text NOT NULL CHECK (resource IN ('products', 'customers', 'orders')),
    watermark   timestamptz,
    last_run_at timestamptz,
    last_count  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, resource)
);

-- customers/data_request: what Zora holds on a customer, for the merchant to hand over.
CREATE TABLE shopify_data_requests (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    data_request_id     bigint,
    shopify_customer_id bigint,
    export              jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_id, data_request_id)
);
