import type { Database } from '../db/port.js';
import { decodeCursor, toPage, type Page } from '../pagination.js';
import type { FileKind } from './media-types.js';

export interface FileRecord {
  id: string;
  accountId: string;
  kind: FileKind;
  name: string;
  mimeType: string;
  sizeBytes: number;
  width: number | null;
  height: number | null;
  durationSeconds: number | null;
  target: string;
  key: string;
  createdAt: Date;
  expiresAt: Date;
}

interface FileRow {
  seq: number;
  id: string;
  account_id: string;
  kind: FileKind;
  name: string;
  mime_type: string;
  size_bytes: number;
  width: number | null;
  height: number | null;
  duration_seconds: number | null;
  target: string;
  key: string;
  created_at: Date;
  expires_at: Date;
}

function toFile(row: FileRow): FileRecord {
  return {
    id: row.id, accountId: row.account_id, kind: row.kind, name: row.name, mimeType: row.mime_type,
    sizeBytes: Number(row.size_bytes), width: row.width, height: row.height, durationSeconds: row.duration_seconds,
    target: row.target, key: row.key, createdAt: row.created_at, expiresAt: row.expires_at,
  };
}

/** Rows of uploaded files. A file past its expiry is no longer live: reads do not return it. */
export function createFileStore(db: Database) {
  return {
    async insert(file: Omit<FileRecord, 'createdAt' | 'expiresAt'>, retentionSeconds: number): Promise<FileRecord> {
      const { rows } = await db.query<FileRow>(
        `INSERT INTO files (id, account_id, kind, name, mime_type, size_bytes, width, height, duration_seconds, target, key, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + make_interval(secs => $12)) RETURNING *`,
        [file.id, file.accountId, file.kind, file.name, file.mimeType, file.sizeBytes, file.width, file.height,
          file.durationSeconds, file.target, file.key, retentionSeconds],
      );
      return toFile(rows[0] as FileRow);
    },

    /** The live file if it belongs to `accountId`. */
    async get(accountId: string, id: string): Promise<FileRecord | null> {
      const { rows } = await db.query<FileRow>(
        'SELECT * FROM files WHERE id = $1 AND account_id = $2 AND expires_at > now()',
        [id, accountId],
      );
      return rows[0] ? toFile(rows[0]) : null;
    },

    /** The live file stored at `key` on `target`, whoever owns it. */
    async findByObject(target: string, key: string): Promise<FileRecord | null> {
      const { rows } = await db.query<FileRow>(
        'SELECT * FROM files WHERE target = $1 AND key = $2 AND expires_at > now()',
        [target, key],
      );
      return rows[0] ? toFile(rows[0]) : null;
    },

    async list(accountId: string, limit: number, cursor?: string): Promise<Page<FileRecord>> {
      const before = decodeCursor(cursor);
      const { rows } = await db.query<FileRow>(
        `SELECT * FROM files WHERE account_id = $1 AND expires_at > now() AND ($2::bigint IS NULL OR seq < $2)
          ORDER BY seq DESC LIMIT $3`,
        [accountId, before, limit + 1],
      );
      return toPage(rows, limit, toFile);
    },

    /** The file if it belongs to `accountId`, live or expired (for deletion). */
    async find(accountId: string, id: string): Promise<FileRecord | null> {
      const { rows } = await db.query<FileRow>('SELECT * FROM files WHERE id = $1 AND account_id = $2', [id, accountId]);
      return rows[0] ? toFile(rows[0]) : null;
    },

    /** Deletes the row (its bytes must be gone first); false if there was none. */
    async delete(id: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM files WHERE id = $1', [id]);
      return rowCount > 0;
    },

    /** Up to `limit` expired files, oldest first. */
    async expired(limit: number): Promise<FileRecord[]> {
      const { rows } = await db.query<FileRow>('SELECT * FROM files WHERE expires_at <= now() ORDER BY expires_at LIMIT $1', [limit]);
      return rows.map(toFile);
    },
  };
}

export type FileStore = ReturnType<typeof createFileStore>;
