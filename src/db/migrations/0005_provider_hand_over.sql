-- Upstream providers.
-- `provider` is set *before* a submission is sent (the intent), with `submitted_at`: while
-- `upstream_id` is still NULL it means "a submission to this account may have reached it", so a
-- resumed attempt goes back to that account only.
-- `handed_over` marks a lease released on purpose (a later poll, or a submission retried after a
-- delay): claiming the task again is not counted as a new attempt, since attempts count crashes
-- and failures, not planned waits. Each hand-over bumps `hand_over_seq` and its job carries the
-- new value, so only the newest of a task's jobs may claim it (an upstream's callback wakes a
-- task with a new job; the delayed one it replaces then finds itself stale).
-- `wake_requested`: a callback arrived while an attempt was running; its hand-over polls at once.
-- `upstream_hint`: the upstream job a callback named for a task whose submission's answer was
-- lost; unverified until the next attempt asks the upstream's own record of that job.
ALTER TABLE tasks
  ADD COLUMN handed_over boolean NOT NULL DEFAULT false,
  ADD COLUMN hand_over_seq integer NOT NULL DEFAULT 0,
  ADD COLUMN wake_requested boolean NOT NULL DEFAULT false,
  ADD COLUMN submitted_at timestamptz,
  ADD COLUMN upstream_hint text;

DROP FUNCTION rivya_claim_task(text, text, double precision);

-- p_seq: the hand-over a job was made for (a task's first job carries 0, each resume the next number);
-- NULL only from jobs queued before this migration, which may claim whatever the task's number.
CREATE FUNCTION rivya_claim_task(p_id text, p_lease text, p_lease_seconds double precision, p_seq integer)
RETURNS SETOF tasks LANGUAGE sql AS $$
  UPDATE tasks SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now(),
         attempts = attempts + CASE WHEN upstream_id IS NULL AND NOT handed_over THEN 1 ELSE 0 END,
         handed_over = false,
         -- This attempt's poll is the status fetch a callback asked for.
         wake_requested = wake_requested AND upstream_id IS NULL,
         lease_owner = p_lease, lease_expires_at = now() + make_interval(secs => p_lease_seconds)
   WHERE id = p_id AND status IN ('queued', 'running')
     AND (lease_expires_at IS NULL OR lease_expires_at < now())
     AND (p_seq IS NULL OR hand_over_seq = p_seq)
  RETURNING *;
$$;
