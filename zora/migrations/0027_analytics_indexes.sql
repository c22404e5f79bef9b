-- The analytics page (zora/store/analytics.py) reads a shop's conversations by when they started.
CREATE INDEX conversations_shop_created ON conversations (shop_id, created_at);
