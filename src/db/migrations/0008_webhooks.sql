-- Webhooks: the endpoints an account registers (each with its own signing secret), the account's
-- default signing secret (for a task's own `webhook_url`), and each delivery of an event to a
-- target with every attempt made.
--
-- Secrets are kept as shown (`whsec_…`): the server signs with them. A rotated-out secret keeps
-- signing beside the new one until `previous_secret_expires_at`.
CREATE TABLE webhook_endpoints (
  id                          text PRIMARY KEY,
  seq                         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  account_id                  text NOT NULL REFERENCES accounts (id),
  url                         text NOT NULL,
  description                 text,
  -- Event types it receives; '{*}' for every type.
  events                      text[] NOT NULL,
  secret                      text NOT NULL,
  previous_secret             text,
  previous_secret_expires_at  timestamptz,
  -- A disabled endpoint gets no new deliveries and its pending ones stop.
  disabled_at                 timestamptz,
  disabled_reason             text,
  -- When its attempts began to fail without a success since (3 days of that disable it).
  failing_since               timestamptz,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, seq);

CREATE TABLE webhook_secrets (
  account_id                  text PRIMARY KEY REFERENCES accounts (id),
  secret                      text NOT NULL,
  previous_secret             text,
  previous_secret_expires_at  timestamptz,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- One event to one target: an endpoint, or (endpoint_id null) a task's own webhook_url. The event
-- is read from the log when sent, so result URLs are signed afresh; an event outside the log
-- (`webhook.test`) is kept in `event`. Each attempt claims the delivery until `lease_until`: a
-- claim that lapsed belongs to a worker that died, and its attempt is made again.
CREATE TABLE webhook_deliveries (
  id               text PRIMARY KEY,
  seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  account_id       text NOT NULL REFERENCES accounts (id),
  endpoint_id      text REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  url              text,
  event_id         text NOT NULL,
  event_type       text NOT NULL,
  event            jsonb,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz,
  lease_until      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (endpoint_id IS NOT NULL OR url IS NOT NULL)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- Ended deliveries are deleted a while after their last change.
CREATE INDEX webhook_deliveries_ended ON webhook_deliveries (updated_at) WHERE status <> 'pending';

CREATE TABLE webhook_attempts (
  delivery_id    text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt        integer NOT NULL,
  started_at     timestamptz NOT NULL,
  status_code    integer,
  latency_ms     integer NOT NULL,
  error          text,
  response_body  text,
  -- When the next attempt is due after this one failed; null after the last one.
  next_retry_at  timestamptz,
  PRIMARY KEY (delivery_id, attempt)
);
