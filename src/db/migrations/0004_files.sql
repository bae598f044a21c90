-- Files uploaded through the Files API: references for reference modes (image-to-video).
-- A file belongs to one account and expires; its bytes live on an object store target.
CREATE TABLE files (
  seq               bigserial UNIQUE,
  id                text PRIMARY KEY,
  account_id        text NOT NULL REFERENCES accounts (id),
  kind              text NOT NULL CHECK (kind IN ('image', 'video', 'audio')),
  name              text NOT NULL,
  mime_type         text NOT NULL,
  size_bytes        bigint NOT NULL CHECK (size_bytes >= 0),
  width             integer,
  height            integer,
  duration_seconds  double precision,
  target            text NOT NULL,
  key               text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  expires_at        timestamptz NOT NULL,
  UNIQUE (target, key)
);
CREATE INDEX files_account_seq ON files (account_id, seq DESC);
CREATE INDEX files_expiry ON files (expires_at);
