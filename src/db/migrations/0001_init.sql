-- Accounts hold credits. balance = grants + adjustments - captures; held = sum of open holds.
-- available = balance - held, never below zero (the CHECKs make that a property of the store).
CREATE TABLE accounts (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  balance       bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
  held          bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
  active_tasks  integer NOT NULL DEFAULT 0 CHECK (active_tasks >= 0),
  limits        jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (held <= balance)
);

-- API keys are stored only as the SHA-256 of the key; the prefix helps people tell keys apart.
CREATE TABLE api_keys (
  id          text PRIMARY KEY,
  account_id  text NOT NULL REFERENCES accounts (id),
  name        text,
  prefix      text NOT NULL,
  key_hash    text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE tasks (
  seq                bigserial UNIQUE,
  id                 text PRIMARY KEY,
  account_id         text NOT NULL REFERENCES accounts (id),
  model              text NOT NULL,
  prompt             text NOT NULL,
  params             jsonb NOT NULL,
  reference_files    jsonb NOT NULL DEFAULT '[]'::jsonb,
  client_request_id  text,
  status             text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
  progress           integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  reserved_credits   integer NOT NULL CHECK (reserved_credits > 0),
  final_credits      integer NOT NULL DEFAULT 0,
  result             jsonb,
  error              jsonb,
  provider           text,
  upstream_id        text,
  attempts           integer NOT NULL DEFAULT 0,
  lease_owner        text,
  lease_expires_at   timestamptz,
  deadline_at        timestamptz NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  started_at         timestamptz,
  completed_at       timestamptz
);
CREATE INDEX tasks_account_seq ON tasks (account_id, seq DESC);
CREATE INDEX tasks_account_client_request ON tasks (account_id, client_request_id) WHERE client_request_id IS NOT NULL;
CREATE INDEX tasks_active_deadline ON tasks (deadline_at) WHERE status IN ('queued', 'running');

-- One hold per task, posted (captured) or voided (released) exactly once.
CREATE TABLE credit_holds (
  task_id     text PRIMARY KEY REFERENCES tasks (id),
  account_id  text NOT NULL REFERENCES accounts (id),
  amount      bigint NOT NULL CHECK (amount > 0),
  state       text NOT NULL CHECK (state IN ('open', 'captured', 'released')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  settled_at  timestamptz
);
CREATE INDEX credit_holds_open ON credit_holds (account_id) WHERE state = 'open';

-- The ledger: every change to an account's credits, in order. amount is the magnitude
-- (adjust is signed); balance_after is the account's balance once the entry is applied.
CREATE TABLE ledger_entries (
  seq            bigserial UNIQUE,
  id             text PRIMARY KEY,
  account_id     text NOT NULL REFERENCES accounts (id),
  type           text NOT NULL CHECK (type IN ('grant', 'hold', 'capture', 'release', 'adjust')),
  amount         bigint NOT NULL,
  task_id        text REFERENCES tasks (id),
  balance_after  bigint NOT NULL,
  reason         text,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_account_seq ON ledger_entries (account_id, seq DESC);
-- A task is held, captured and released at most once each, whatever retries or races do.
CREATE UNIQUE INDEX ledger_entries_once_per_task ON ledger_entries (task_id, type) WHERE task_id IS NOT NULL;

-- Idempotency keys, scoped to an account (or 'admin'), kept at least 24 h.
CREATE TABLE idempotency_keys (
  scope            text NOT NULL,
  key              text NOT NULL,
  fingerprint      text NOT NULL,
  state            text NOT NULL CHECK (state IN ('in_flight', 'completed')),
  -- The request that holds the key: only it may complete or release it.
  owner            text NOT NULL,
  response_status  integer,
  response_body    jsonb,
  locked_until     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Settings the service keeps about itself (e.g. the generated signing secret of the embedded mode).
CREATE TABLE service_settings (
  name   text PRIMARY KEY,
  value  text NOT NULL
);
