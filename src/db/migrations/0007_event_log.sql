-- The event log: one per account, fed by the transactions that change what it describes (a task's
-- status and its credits, its progress), and read by webhooks, event streams and long-polls alike.
--
-- Order: `seq` counts an account's events, assigned under the lock of that account's counter row,
-- which the appending transaction holds until it commits. So within an account events commit in
-- `seq` order, and a reader that has seen `seq` n never later finds a smaller one appear: resuming
-- after the last event read misses nothing. Locks are taken task row → account row → counter row
-- on every path, so appends cannot deadlock with the credit statements.
CREATE TABLE event_counters (
  account_id  text PRIMARY KEY REFERENCES accounts (id),
  last_seq    bigint NOT NULL
);

-- `id` is `evt_` + the seq zero-padded to 12 digits + 10 random characters: it sorts like seq
-- within an account, and is unique across accounts (a webhook receiver deduplicates by it).
-- `data` holds the task as it was when the event happened (the stored record, not its signed
-- URLs: those are made when the event is read or delivered).
CREATE TABLE events (
  account_id  text NOT NULL REFERENCES accounts (id),
  seq         bigint NOT NULL,
  id          text NOT NULL UNIQUE,
  type        text NOT NULL,
  task_id     text REFERENCES tasks (id),
  data        jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, seq)
);
CREATE INDEX events_task ON events (task_id, seq) WHERE task_id IS NOT NULL;
CREATE INDEX events_created ON events (created_at);

-- Appends an event to an account's log (see the ordering note above) and returns it. Committed
-- events are announced on the channel `rivya_events` as `<account_id> <seq> <task_id or ->`:
-- NOTIFY is delivered at commit, to every listening process, and never for a rollback.
CREATE FUNCTION rivya_append_event(p_account_id text, p_type text, p_task_id text, p_data jsonb, p_nonce text)
RETURNS SETOF events LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint;
BEGIN
  INSERT INTO event_counters AS c (account_id, last_seq) VALUES (p_account_id, 1)
  ON CONFLICT (account_id) DO UPDATE SET last_seq = c.last_seq + 1
  RETURNING last_seq INTO v_seq;
  PERFORM pg_notify('rivya_events', p_account_id || ' ' || v_seq || ' ' || coalesce(p_task_id, '-'));
  RETURN QUERY
    INSERT INTO events (account_id, seq, id, type, task_id, data)
    VALUES (p_account_id, v_seq, 'evt_' || lpad(v_seq::text, 12, '0') || p_nonce, p_type, p_task_id, p_data)
    RETURNING *;
END $$;

-- A task created with its own webhook (`webhook_url`) sends its terminal events there, or all of
-- them (`webhook_events` = 'all').
ALTER TABLE tasks
  ADD COLUMN webhook_url     text,
  ADD COLUMN webhook_events  text NOT NULL DEFAULT 'terminal' CHECK (webhook_events IN ('terminal', 'all'));
