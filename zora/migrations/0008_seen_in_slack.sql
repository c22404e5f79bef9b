-- When Zora marked an agent's reply in Slack as seen by the shopper (one reaction per reply).
ALTER TABLE messages ADD COLUMN slack_seen_at timestamptz;
