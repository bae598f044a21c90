-- Tasks per terminal status, kept by triggers so that /metrics reads a few rows instead of
-- counting the whole table on every scrape. Terminal statuses never change and tasks are never
-- deleted, so the totals only grow. Each status is spread over 16 rows (by a hash of the task
-- id) so that workers ending tasks at the same moment do not queue on one row lock.
CREATE TABLE task_status_totals (
  status  text NOT NULL CHECK (status IN ('succeeded', 'failed', 'canceled')),
  shard   smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
  n       bigint NOT NULL CHECK (n >= 0),
  PRIMARY KEY (status, shard)
);

-- Every row exists from the start: the trigger only ever adds one to one of them.
INSERT INTO task_status_totals (status, shard, n)
SELECT status, shard, 0 FROM unnest(ARRAY['succeeded', 'failed', 'canceled']) status, generate_series(0, 15) shard;

CREATE FUNCTION rivya_count_ended_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE task_status_totals SET n = n + 1 WHERE status = NEW.status AND shard = hashtext(NEW.id) & 15;
  RETURN NULL;
END $$;

-- A task reaches a terminal status once (the status guard of rivya_end_task).
CREATE TRIGGER tasks_count_ended AFTER UPDATE OF status ON tasks FOR EACH ROW
  WHEN (NEW.status IN ('succeeded', 'failed', 'canceled') AND OLD.status NOT IN ('succeeded', 'failed', 'canceled'))
  EXECUTE FUNCTION rivya_count_ended_task();
CREATE TRIGGER tasks_count_inserted_ended AFTER INSERT ON tasks FOR EACH ROW
  WHEN (NEW.status IN ('succeeded', 'failed', 'canceled'))
  EXECUTE FUNCTION rivya_count_ended_task();

-- The tasks that ended before this migration. The triggers above already hold the table's
-- lock, so no task can end between this count and them.
UPDATE task_status_totals t SET n = ended.n
  FROM (SELECT status, hashtext(id) & 15 AS shard, count(*) AS n FROM tasks
         WHERE status IN ('succeeded', 'failed', 'canceled') GROUP BY 1, 2) ended
 WHERE t.status = ended.status AND t.shard = ended.shard;
