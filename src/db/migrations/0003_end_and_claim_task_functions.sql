-- Ending a task settles its hold in the same statement: capture on success, release otherwise.
-- Guarded by the current status (and, for a worker, its lease): a task ends once and its hold is
-- settled once, whatever races or retries do. Returns no row if the guard refuses.
-- As functions, their plans are reused (see 0002).
CREATE FUNCTION rivya_end_task(
  p_id text, p_status text, p_result jsonb, p_error jsonb, p_from text[], p_ledger_id text, p_lease_owner text
) RETURNS SETOF tasks LANGUAGE plpgsql AS $$
DECLARE
  v_task tasks;
  v_account_id text;
  v_amount bigint;
  v_balance bigint;
  v_captured boolean := p_status = 'succeeded';
BEGIN
  UPDATE tasks SET status = p_status,
         final_credits = CASE WHEN v_captured THEN reserved_credits ELSE 0 END,
         progress = CASE WHEN v_captured THEN 100 ELSE progress END,
         result = p_result, error = p_error, completed_at = now(), updated_at = now(),
         lease_owner = NULL, lease_expires_at = NULL
   WHERE id = p_id AND status = ANY (p_from) AND (p_lease_owner IS NULL OR lease_owner = p_lease_owner)
   RETURNING * INTO v_task;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  UPDATE credit_holds SET state = CASE WHEN v_captured THEN 'captured' ELSE 'released' END, settled_at = now()
   WHERE task_id = p_id AND state = 'open'
   RETURNING account_id, amount INTO v_account_id, v_amount;
  IF FOUND THEN
    UPDATE accounts SET held = held - v_amount,
           balance = balance - CASE WHEN v_captured THEN v_amount ELSE 0 END,
           active_tasks = active_tasks - 1
     WHERE id = v_account_id
     RETURNING balance INTO v_balance;
    INSERT INTO ledger_entries (id, account_id, type, amount, task_id, balance_after)
    VALUES (p_ledger_id, v_account_id, CASE WHEN v_captured THEN 'capture' ELSE 'release' END, v_amount, p_id, v_balance);
  END IF;
  RETURN NEXT v_task;
END $$;

-- A worker claims a task with a lease token of its own (new for every attempt): queued → running,
-- or a running task whose lease expired or was released (its worker died, or handed it over to a
-- poll job). An attempt counts only when it submits anew, not when it polls a stored upstream job.
CREATE FUNCTION rivya_claim_task(p_id text, p_lease text, p_lease_seconds double precision)
RETURNS SETOF tasks LANGUAGE sql AS $$
  UPDATE tasks SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now(),
         attempts = attempts + CASE WHEN upstream_id IS NULL THEN 1 ELSE 0 END,
         lease_owner = p_lease, lease_expires_at = now() + make_interval(secs => p_lease_seconds)
   WHERE id = p_id AND status IN ('queued', 'running')
     AND (lease_expires_at IS NULL OR lease_expires_at < now())
  RETURNING *;
$$;
