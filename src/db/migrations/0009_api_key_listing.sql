-- Self-service keys: an account lists its own keys, newest first, with when each was last used.
--
-- `seq` orders the list and positions its cursors, as in every other list (existing keys are
-- numbered in no particular order; they predate the list). `last_used_at` is written at most
-- about once a minute per key and API process, not on every request: it says "used recently",
-- to the minute, which is what a person deciding whether a key is still in use needs.
ALTER TABLE api_keys ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE;
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
CREATE INDEX api_keys_account_seq ON api_keys (account_id, seq) WHERE revoked_at IS NULL;
