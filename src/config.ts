import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { DEFAULT_FILE_LIMITS, type FileLimits } from './files/media-types.js';
import { loadProviderSettings, type ProviderSettings } from './providers/provider-settings.js';

/** Which parts of the service a process runs. */
export type Role = 'all' | 'api' | 'worker';

export interface Config {
  role: Role;
  host: string;
  port: number;
  /** Base URL clients and providers reach this service at; signed URLs start with it. */
  publicUrl: string;
  /** Embedded data directory (PGlite files, local objects, secret, dev key). */
  dataDir: string;
  /** A PostgreSQL server instead of the embedded database. */
  databaseUrl: string | null;
  adminToken: string | null;
  /** `/metrics` answers only `Authorization: Bearer <token>` when set. */
  metricsToken: string | null;
  /** `/metrics` is served on this port alone (any role), not on the API's; null: on the API's port. */
  metricsPort: number | null;
  /** Signs URLs and tokens; generated into the data dir when not given. */
  secret: string | null;
  ffmpegPath: string;
  /** Font of the local renderer's prompt text (RIVYA_FONT_PATH); system fonts otherwise. */
  fontPath: string | undefined;
  /** Provider accounts and the routes of each model over them (RIVYA_CONFIG, or the one-upstream variables). */
  providers: ProviderSettings;
  logLevel: string;
  taskTimeoutSeconds: number;
  leaseSeconds: number;
  maxAttempts: number;
  workerConcurrency: number;
  sweepIntervalMs: number;
  resultUrlTtlSeconds: number;
  authFailuresPerMinute: number;
  shutdownTimeoutMs: number;
  /** Event streams (SSE): the heartbeat interval, and the open streams one API key may hold per process. */
  eventStreams: { heartbeatMs: number; maxPerKey: number; maxDurationMs: number };
  /** How long uploaded files live. */
  fileRetentionSeconds: number;
  /** How long events stay in the log (at least an hour); the sweeper deletes older ones. */
  eventRetentionSeconds: number;
  /** What the memory view of unfinished tasks may weigh, in bytes (0: none kept, every poll reads the database). */
  liveViewBytes: number;
  /** Upload size limits per kind of file. */
  fileLimits: FileLimits;
  /** The object store target uploads are kept on. */
  uploadTarget: 's3' | 'oss';
  /** Redis for rate limits shared by every API process; memory when absent. */
  redisUrl: string | null;
  /** An S3-API bucket per upload target; a target without one is a local directory. */
  buckets: { s3: BucketConfig | null; oss: BucketConfig | null };
  /** Webhooks may go to http URLs and private addresses (development and tests only). */
  webhooksAllowInsecure: boolean;
  /** One webhook attempt (connect, send, answer) must finish within this. */
  webhookTimeoutMs: number;
  /** Webhook attempts one worker process makes at once. */
  webhookConcurrency: number;
}

export interface BucketConfig {
  bucket: string;
  region: string;
  endpoint: string | undefined;
  forcePathStyle: boolean;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function defaultFfmpegPath(): string {
  const require = createRequire(import.meta.url);
  return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
}

/**
 * Reads the configuration from the environment and command-line flags, reporting every problem
 * at once with the variable to fix. This is the only place that reads `process.env`.
 */
export function loadConfig(env: NodeJS.ProcessEnv, flags: { role?: string | undefined } = {}): Config {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}="${raw}" must be an integer from ${min} to ${max}.`);
      return fallback;
    }
    return value;
  };
  const role = (flags.role ?? env['RIVYA_ROLE'] ?? 'all') as Role;
  if (!['all', 'api', 'worker'].includes(role)) problems.push(`--role "${role}" must be one of all, api, worker.`);
  const port = int('PORT', 8080, 0, 65535);
  const host = env['HOST'] || '0.0.0.0';
  const publicUrl = (env['RIVYA_PUBLIC_URL'] || `http://localhost:${port}`).replace(/\/+$/, '');
  try {
    const url = new URL(publicUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
  } catch {
    problems.push(`RIVYA_PUBLIC_URL="${publicUrl}" must be an http(s) URL such as https://api.example.com.`);
  }
  const databaseUrl = env['DATABASE_URL'] || null;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// connection string.');
  }
  if (!databaseUrl && role !== 'all') {
    problems.push(`--role ${role} needs DATABASE_URL: the embedded database serves one process, which runs both roles.`);
  }
  const metricsToken = env['RIVYA_METRICS_TOKEN'] || null;
  if (metricsToken !== null && !/^[\x21-\x7e]+$/.test(metricsToken)) {
    problems.push('RIVYA_METRICS_TOKEN must be visible ASCII characters without spaces (it is sent as a Bearer token).');
  }
  const metricsPort = env['RIVYA_METRICS_PORT'] ? int('RIVYA_METRICS_PORT', 0, 1, 65535) : null;
  if (metricsPort !== null && metricsPort === port && role !== 'worker') {
    problems.push(`RIVYA_METRICS_PORT=${metricsPort} is the API's PORT: give /metrics a port of its own, or unset RIVYA_METRICS_PORT.`);
  }
  const secret = env['RIVYA_SECRET'] || null;
  if (secret !== null && secret.length < 32) problems.push('RIVYA_SECRET must be at least 32 characters.');
  if (databaseUrl && secret === null) {
    problems.push('RIVYA_SECRET is required with DATABASE_URL: every process must sign URLs with the same secret.');
  }
  const localKind = env['RIVYA_PROVIDER'] || 'local';
  if (localKind !== 'local' && localKind !== 'instant') problems.push(`RIVYA_PROVIDER="${localKind}" must be local or instant.`);
  const providers = loadProviderSettings(env, localKind === 'instant' ? 'instant' : 'local', problems);
  let ffmpegPath = env['RIVYA_FFMPEG_PATH'] || '';
  if (!ffmpegPath) {
    try {
      ffmpegPath = defaultFfmpegPath();
    } catch {
      problems.push('No ffmpeg found: reinstall with `npm ci`, or set RIVYA_FFMPEG_PATH to an ffmpeg binary.');
    }
  }
  const redisUrl = env['REDIS_URL'] || null;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must be a redis:// or rediss:// URL.');
  const bucket = (prefix: string): BucketConfig | null => {
    const name = env[`${prefix}_BUCKET`];
    const related = Object.keys(env).filter((key) => key.startsWith(`${prefix}_`) && env[key]);
    if (!name) {
      if (related.length > 0) problems.push(`${related.join(', ')} set without ${prefix}_BUCKET: name the bucket too.`);
      return null;
    }
    const endpoint = env[`${prefix}_ENDPOINT`] || undefined;
    if (endpoint) {
      try {
        new URL(endpoint);
      } catch {
        problems.push(`${prefix}_ENDPOINT="${endpoint}" must be a URL such as https://s3.eu-west-1.amazonaws.com.`);
      }
    }
    const accessKeyId = env[`${prefix}_ACCESS_KEY_ID`] || undefined;
    const secretAccessKey = env[`${prefix}_SECRET_ACCESS_KEY`] || undefined;
    if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
      problems.push(`${prefix}_ACCESS_KEY_ID and ${prefix}_SECRET_ACCESS_KEY go together: set both or neither.`);
    }
    return {
      bucket: name,
      region: env[`${prefix}_REGION`] || 'us-east-1',
      endpoint,
      forcePathStyle: ['1', 'true', 'yes'].includes((env[`${prefix}_FORCE_PATH_STYLE`] ?? '').toLowerCase()),
      accessKeyId,
      secretAccessKey,
    };
  };
  const buckets = { s3: bucket('RIVYA_S3'), oss: bucket('RIVYA_OSS') };
  const uploadTarget = env['RIVYA_UPLOAD_TARGET'] || 's3';
  if (uploadTarget !== 's3' && uploadTarget !== 'oss') problems.push(`RIVYA_UPLOAD_TARGET="${uploadTarget}" must be s3 or oss.`);
  const insecure = (env['RIVYA_WEBHOOKS_ALLOW_INSECURE'] ?? '').toLowerCase();
  if (!['', 'true', 'false'].includes(insecure)) problems.push(`RIVYA_WEBHOOKS_ALLOW_INSECURE="${insecure}" must be true or false.`);
  const config: Config = {
    role,
    host,
    port,
    publicUrl,
    dataDir: resolve(env['RIVYA_DATA_DIR'] || '.rivya'),
    databaseUrl,
    adminToken: env['RIVYA_ADMIN_TOKEN'] || null,
    metricsToken,
    metricsPort,
    secret,
    ffmpegPath,
    fontPath: env['RIVYA_FONT_PATH'] || undefined,
    providers,
    logLevel: env['RIVYA_LOG_LEVEL'] || 'info',
    taskTimeoutSeconds: int('RIVYA_TASK_TIMEOUT_SECONDS', 1800, 10, 86_400),
    leaseSeconds: int('RIVYA_LEASE_SECONDS', 30, 2, 3600),
    maxAttempts: int('RIVYA_MAX_ATTEMPTS', 3, 1, 20),
    workerConcurrency: int('RIVYA_WORKER_CONCURRENCY', 2, 1, 256),
    sweepIntervalMs: int('RIVYA_SWEEP_INTERVAL_MS', 5000, 100, 3_600_000),
    resultUrlTtlSeconds: int('RIVYA_RESULT_URL_TTL_SECONDS', 86_400, 60, 7 * 86_400),
    authFailuresPerMinute: int('RIVYA_AUTH_FAILURES_PER_MINUTE', 30, 1, 1_000_000),
    shutdownTimeoutMs: int('RIVYA_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    eventStreams: {
      heartbeatMs: int('RIVYA_SSE_HEARTBEAT_MS', 15_000, 10, 3_600_000),
      maxPerKey: int('RIVYA_MAX_STREAMS_PER_KEY', 20, 1, 100_000),
      maxDurationMs: int('RIVYA_SSE_MAX_DURATION_MS', 3_600_000, 10, 86_400_000),
    },
    fileRetentionSeconds: int('RIVYA_FILE_RETENTION_SECONDS', 7 * 86_400, 60, 365 * 86_400),
    eventRetentionSeconds: int('RIVYA_EVENT_RETENTION_SECONDS', 7 * 86_400, 3600, 365 * 86_400),
    liveViewBytes: int('RIVYA_LIVE_VIEW_BYTES', 96 * 1024 * 1024, 0, 64 * 1024 * 1024 * 1024),
    fileLimits: {
      image: int('RIVYA_MAX_IMAGE_BYTES', DEFAULT_FILE_LIMITS.image, 1, 5_000_000_000),
      video: int('RIVYA_MAX_VIDEO_BYTES', DEFAULT_FILE_LIMITS.video, 1, 5_000_000_000),
      audio: int('RIVYA_MAX_AUDIO_BYTES', DEFAULT_FILE_LIMITS.audio, 1, 5_000_000_000),
    },
    uploadTarget: uploadTarget as 's3' | 'oss',
    redisUrl,
    buckets,
    webhooksAllowInsecure: insecure === 'true',
    webhookTimeoutMs: int('RIVYA_WEBHOOK_TIMEOUT_MS', 15_000, 100, 60_000),
    webhookConcurrency: int('RIVYA_WEBHOOK_CONCURRENCY', 32, 1, 1024),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
