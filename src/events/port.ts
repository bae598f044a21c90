/**
 * The `TaskEvents` port: tells waiting requests (`GET /tasks/{id}?wait=`) that a task changed.
 * Memory: one process. Across processes: Postgres LISTEN/NOTIFY.
 */
export interface TaskEvents {
  /** Announces that `taskId` changed status. */
  publish(taskId: string): void;
  /**
   * Resolves when `taskId` is next announced, or after `timeoutMs`, or when `signal` aborts —
   * whichever comes first. Never rejects.
   */
  next(taskId: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
