-- Creating a task is the hottest write: one function call instead of a planned multi-CTE
-- statement, so PostgreSQL reuses its plans (PGlite spends most of a statement planning it).
-- Keeps: the account row is locked by the UPDATE, whose guard sees the latest balance, holds and
-- active count, so racing creates never overdraw or exceed the active-task limit.
-- Returns no row when the guard refuses (the caller explains why).
CREATE FUNCTION rivya_create_task(
  p_id text, p_account_id text, p_model text, p_prompt text, p_params jsonb, p_reference_files jsonb,
  p_client_request_id text, p_price integer, p_timeout_seconds double precision, p_ledger_id text, p_active_limit integer
) RETURNS SETOF tasks LANGUAGE plpgsql AS $$
DECLARE
  v_balance bigint;
BEGIN
  UPDATE accounts SET held = held + p_price, active_tasks = active_tasks + 1
   WHERE id = p_account_id AND balance - held >= p_price AND active_tasks < p_active_limit
   RETURNING balance INTO v_balance;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  RETURN QUERY
    INSERT INTO tasks (id, account_id, model, prompt, params, reference_files, client_request_id, status,
                       reserved_credits, deadline_at)
    VALUES (p_id, p_account_id, p_model, p_prompt, p_params, p_reference_files, p_client_request_id, 'queued',
            p_price, now() + make_interval(secs => p_timeout_seconds))
    RETURNING *;
  INSERT INTO credit_holds (task_id, account_id, amount, state) VALUES (p_id, p_account_id, p_price, 'open');
  INSERT INTO ledger_entries (id, account_id, type, amount, task_id, balance_after)
  VALUES (p_ledger_id, p_account_id, 'hold', p_price, p_id, v_balance);
END $$;
