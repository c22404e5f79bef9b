-- Automatic assignment: where the shop's round robin stands, and when a conversation was handed to
-- an agent automatically (they must answer within the shop's time, or it moves on).
ALTER TABLE shops ADD COLUMN assign_cursor integer NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN auto_assigned_at timestamptz;
