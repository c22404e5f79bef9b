-- Where the shopper started the conversation: the storefront page and the widget's language, for the
-- conversation's card in Slack. Set by the first message that carries them.
ALTER TABLE conversations ADD COLUMN storefront_page text, ADD COLUMN locale text;
