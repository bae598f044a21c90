-- Upstream providers. A task's `provider` is set *before* its submission is sent (the intent):
-- with `upstream_id` still NULL it means "a submission to this account may have reached it", so
-- a resumed attempt goes back to that account only. `handed_over` marks a lease released on
-- purpose (a later poll, or a submission retried after a delay), so claiming the task again is
-- not counted as a new attempt: attempts count crashes and failures, not planned waits.
ALTER TABLE tasks ADD COLUMN handed_over boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION rivya_claim_task(p_id text, p_lease text, p_lease_seconds double precision)
RETURNS SETOF tasks LANGUAGE sql AS $$
  UPDATE tasks SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now(),
         attempts = attempts + CASE WHEN upstream_id IS NULL AND NOT handed_over THEN 1 ELSE 0 END,
         handed_over = false,
         lease_owner = p_lease, lease_expires_at = now() + make_interval(secs => p_lease_seconds)
   WHERE id = p_id AND status IN ('queued', 'running')
     AND (lease_expires_at IS NULL OR lease_expires_at < now())
  RETURNING *;
$$;
