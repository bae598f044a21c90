-- Console sessions: a person signs in to the web console with an API key and gets a session
-- cookie instead of keeping the key in the browser.
--
-- Only a SHA-256 hash of the session token is stored (a database leak yields no usable cookie).
-- A session acts as the key it was signed in with: it ends when it expires, when it is signed
-- out (its row deleted), or when that key is revoked (authentication joins live keys only).
-- The table lives in the database, not in a process: every API process sees the same sessions.
CREATE TABLE console_sessions (
  id text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  key_id text NOT NULL REFERENCES api_keys (id),
  account_id text NOT NULL REFERENCES accounts (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
