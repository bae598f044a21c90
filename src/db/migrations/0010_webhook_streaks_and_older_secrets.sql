-- Secrets rotated out before `previous_secret` whose 24 h overlap has not ended: a second rotation
-- within a day must not cut short the first one's overlap (a receiver still on the first secret
-- keeps verifying). A JSON array of {secret, expires_at}, newest first, at most a few (see
-- `MAX_OLDER_SECRETS`); expired ones are dropped at the next rotation and never sign.
ALTER TABLE webhook_endpoints ADD COLUMN older_secrets jsonb NOT NULL DEFAULT '[]';
ALTER TABLE webhook_secrets ADD COLUMN older_secrets jsonb NOT NULL DEFAULT '[]';

-- When the endpoint's failing streak last failed: a streak is failed attempts with no success
-- between them and no gap longer than the retry schedule's longest wait, so a failure after a
-- quiet week starts a new streak instead of disabling the endpoint at once.
ALTER TABLE webhook_endpoints ADD COLUMN last_failed_at timestamptz;
