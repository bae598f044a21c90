-- Polls answered from memory: every API process keeps a view of unfinished tasks and of account
-- credits, current through the event feed. The view is exact only if whatever a client sees
-- changes with an announcement, and if each change has a position in its account's log.
--
-- 1. A task's `updated_at` as shown is when what a client sees of it last changed: status,
--    progress, result, error, credits, start or end (each of which is an event). A worker's lease
--    renewals and hand-overs touch the row's own `updated_at`, which the sweeper goes by, and must
--    not show. `changed_at` is kept by a trigger, so no statement can forget it.
ALTER TABLE tasks ADD COLUMN changed_at timestamptz;
UPDATE tasks SET changed_at = updated_at WHERE status IN ('queued', 'running');

CREATE FUNCTION rivya_task_changed_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT'
     OR NEW.status IS DISTINCT FROM OLD.status OR NEW.progress IS DISTINCT FROM OLD.progress
     OR NEW.result IS DISTINCT FROM OLD.result OR NEW.error IS DISTINCT FROM OLD.error
     OR NEW.final_credits IS DISTINCT FROM OLD.final_credits
     OR NEW.started_at IS DISTINCT FROM OLD.started_at OR NEW.completed_at IS DISTINCT FROM OLD.completed_at THEN
    NEW.changed_at := now();
  ELSE
    -- A task that ended before this migration shows its last updated_at, as it did.
    NEW.changed_at := coalesce(OLD.changed_at, OLD.updated_at);
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER tasks_changed_at BEFORE INSERT OR UPDATE ON tasks
  FOR EACH ROW EXECUTE FUNCTION rivya_task_changed_at();

-- 2. A change to an account that is not an event (a credit grant or adjustment, new limits) still
--    takes the next position of the account's log, without an event row, and is announced like
--    one (`<account_id> <seq> -`). A position a client was shown then always covers the account
--    as it saw it. The log's seqs get gaps there; readers already skip to the next event.
--    Events and these changes take their position the same way: `rivya_next_position`.
CREATE FUNCTION rivya_next_position(p_account_id text, p_task_id text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint;
BEGIN
  INSERT INTO event_counters AS c (account_id, last_seq) VALUES (p_account_id, 1)
  ON CONFLICT (account_id) DO UPDATE SET last_seq = c.last_seq + 1
  RETURNING last_seq INTO v_seq;
  PERFORM pg_notify('rivya_events', p_account_id || ' ' || v_seq || ' ' || coalesce(p_task_id, '-'));
  RETURN v_seq;
END $$;

CREATE OR REPLACE FUNCTION rivya_append_event(p_account_id text, p_type text, p_task_id text, p_data jsonb, p_nonce text)
RETURNS SETOF events LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint := rivya_next_position(p_account_id, p_task_id);
BEGIN
  RETURN QUERY
    INSERT INTO events (account_id, seq, id, type, task_id, data)
    VALUES (p_account_id, v_seq, 'evt_' || lpad(v_seq::text, 12, '0') || p_nonce, p_type, p_task_id, p_data)
    RETURNING *;
END $$;

CREATE FUNCTION rivya_account_changed(p_account_id text) RETURNS bigint LANGUAGE sql AS $$
  SELECT rivya_next_position(p_account_id, NULL)
$$;

-- 3. With gaps in the log, "the last event swept" can no longer be found as the seq before the
--    oldest kept: the sweeper records it. A client may resume from there (nothing after it is gone).
ALTER TABLE event_counters ADD COLUMN swept_through bigint NOT NULL DEFAULT 0;
UPDATE event_counters c
   SET swept_through = coalesce((SELECT min(e.seq) - 1 FROM events e WHERE e.account_id = c.account_id), c.last_seq);
