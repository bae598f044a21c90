-- Secrets rotated out before `previous_secret` whose 24 h overlap has not ended: a second rotation
-- within a day must not cut short the first one's overlap (a receiver still on the first secret
-- keeps verifying). A JSON array of {secret, expires_at}, newest first, at most a few (see
-- `MAX_OLDER_SECRETS`); expired ones are dropped at the next rotation and never sign.
ALTER TABLE webhook_endpoints ADD COLUMN older_secrets jsonb NOT NULL DEFAULT '[]';
ALTER TABLE webhook_secrets ADD COLUMN older_secrets jsonb NOT NULL DEFAULT '[]';
