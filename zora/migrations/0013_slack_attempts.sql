-- Exactly once into Slack across crashes. A poster that dies (or is cut off) between Slack's answer and
-- writing it down leaves a post whose outcome nobody knows; these markers say that a post may have
-- happened, so the next poster looks in the thread (Slack message metadata) before posting again, and
-- the ordinary first post pays no extra Slack call.

-- Set when a poster claims a shopper message to post it; cleared when it gives the message back
-- untouched or Slack said no. Set on a message not delivered = its earlier post's outcome is unknown.
ALTER TABLE messages ADD COLUMN slack_attempt_at timestamptz;
-- The file id Slack gave for an upload of a shopper's file (files.getUploadURLExternal), written
-- before the upload is completed into the thread: an upload cut off later is found again by this id.
ALTER TABLE files ADD COLUMN slack_upload_id text;
-- Set before the conversation's card (the thread's root) is posted: a card whose answer was lost is
-- looked for in the channel (by its metadata) instead of starting a second thread.
ALTER TABLE conversations ADD COLUMN slack_card_attempt_at timestamptz;
-- A claim reads the conversation's shopper messages not yet in Slack (to keep them in seq order):
-- through this index it reads only those, however long the conversation.
CREATE INDEX messages_waiting_for_slack ON messages (conversation_id, seq) WHERE direction = 'shopper' AND status <> 'delivered';
