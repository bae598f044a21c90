import type { TaskWebhookEvents } from '../domain.js';
import type { ValidationIssue } from '../errors.js';
import type { FileKind } from '../files/media-types.js';
import { findModel, MODEL_IDS, MODELS, REFERENCE_ITEMS_KEY, type ModelRecord } from './models.js';

/**
 * A reference item as the client sent it, checked for shape against the model's upload policy:
 * the long form `{url, kind, name, mimeType}`, or `{file_id}` alone (the file's own url, kind,
 * name and type are then used; any of them given beside it must agree with the file).
 */
export type ReferenceMediaItem =
  | { fileId: string; url?: string; kind?: FileKind; name?: string; mimeType?: string; durationToken?: string }
  | { fileId?: undefined; url: string; kind: FileKind; name: string; mimeType: string; durationToken?: string };

/** A create-task request after validation: every param present as its option string. */
export interface TaskRequest {
  model: ModelRecord;
  prompt: string;
  params: Record<string, string>;
  referenceMediaItems: ReferenceMediaItem[];
  clientRequestId: string | null;
  /** The task's own webhook (its safety is checked at creation, not here). */
  webhookUrl: string | null;
  /** Which of the task's events go to `webhookUrl`: `terminal` unless `["all"]` was asked for. */
  webhookEvents: TaskWebhookEvents;
}

export type ValidationResult = { ok: true; request: TaskRequest } | { ok: false; issues: ValidationIssue[] };

const TOP_LEVEL_KEYS = new Set(['model', 'prompt', 'params', 'client_request_id', 'webhook_url', 'webhook_events']);
const REFERENCE_ITEM_KEYS = new Set(['file_id', 'url', 'kind', 'name', 'mimeType', 'durationToken']);
/** The shape of a file id (`file_` and base62); anything else cannot name a file. */
const FILE_ID = /^file_[0-9A-Za-z]{1,64}$/;
export const CLIENT_REQUEST_ID_MAX = 128;
export const WEBHOOK_URL_MAX = 2048;
/** The one value `webhook_events` takes: every event of the task (left out, only its terminal ones). */
export const WEBHOOK_EVENTS_ALL = 'all';
const NAME_MAX = 255;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"` : `${typeof value} ${JSON.stringify(value) ?? typeof value}`;
}

/** Counts Unicode code points, not UTF-16 units: an emoji is one character. */
export function codePointLength(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/**
 * Validates a create-task body against the catalog, reporting every problem at once.
 * Option values may be sent as their JSON number or boolean (`10`, `true`) and come back
 * normalized to the option string; omitted params take their defaults.
 * Reference items are checked for shape and policy only: that each URL names a live file
 * of the caller is decided at task creation, against the Files API.
 */
export function validateTaskRequest(body: unknown): ValidationResult {
  const issues: ValidationIssue[] = [];
  if (!isPlainObject(body)) {
    return { ok: false, issues: [{ path: '', message: `The body must be a JSON object, got ${describe(body)}.` }] };
  }
  for (const key of Object.keys(body)) {
    if (!TOP_LEVEL_KEYS.has(key)) issues.push({ path: key, message: unknownTopLevelField(key, body['model']) });
  }

  const model = validateModel(body['model'], issues);
  const prompt = validatePrompt(body['prompt'], model, issues);
  const clientRequestId = validateClientRequestId(body['client_request_id'], issues);
  const webhookUrl = validateWebhookUrl(body['webhook_url'], issues);
  const webhookEvents = validateWebhookEvents(body['webhook_events'], body['webhook_url'], issues);
  const { params, referenceMediaItems } = model
    ? validateParams(body['params'], model, issues)
    : { params: {}, referenceMediaItems: [] };

  if (issues.length > 0 || !model || prompt === null) return { ok: false, issues };
  return { ok: true, request: { model, prompt, params, referenceMediaItems, clientRequestId, webhookUrl, webhookEvents } };
}

/**
 * Why a top-level key is unknown. A model parameter sent beside `model` instead of inside
 * `params` is named where it belongs (the keys come from the catalog).
 */
function unknownTopLevelField(key: string, modelId: unknown): string {
  const model = typeof modelId === 'string' ? findModel(modelId) : undefined;
  const owners: string[] = MODELS.filter((candidate) => candidate.params.some((param) => param.key === key)).map((candidate) => candidate.id);
  if (key === REFERENCE_ITEMS_KEY || (model ? owners.includes(model.id) : owners.length > 0)) {
    return `Unknown field; did you mean params.${key}? Model parameters go inside params.`;
  }
  if (owners.length > 0) return `Unknown field; ${key} is a parameter of ${owners.join(', ')} only (inside params).`;
  return 'Unknown field.';
}

function validateModel(value: unknown, issues: ValidationIssue[]): ModelRecord | undefined {
  if (value === undefined) {
    issues.push({ path: 'model', message: `Required. One of: ${MODEL_IDS.join(', ')}.` });
    return undefined;
  }
  if (typeof value !== 'string') {
    issues.push({ path: 'model', message: `Must be a string, got ${describe(value)}.` });
    return undefined;
  }
  const model = findModel(value);
  if (!model) issues.push({ path: 'model', message: `Unknown model "${value}". One of: ${MODEL_IDS.join(', ')}.` });
  return model;
}

function validatePrompt(value: unknown, model: ModelRecord | undefined, issues: ValidationIssue[]): string | null {
  if (value === undefined) {
    issues.push({ path: 'prompt', message: 'Required.' });
    return null;
  }
  if (typeof value !== 'string') {
    issues.push({ path: 'prompt', message: `Must be a string, got ${describe(value)}.` });
    return null;
  }
  if (value.trim().length === 0) {
    issues.push({ path: 'prompt', message: 'Must not be empty or blank.' });
    return null;
  }
  const max = model?.prompt_max_chars;
  const length = codePointLength(value);
  if (max !== undefined && length > max) {
    issues.push({ path: 'prompt', message: `Must be at most ${max} characters for ${model?.id}, got ${length}.` });
    return null;
  }
  return value;
}

function validateClientRequestId(value: unknown, issues: ValidationIssue[]): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    issues.push({ path: 'client_request_id', message: `Must be a string, got ${describe(value)}.` });
    return null;
  }
  if (value.length === 0 || value.length > CLIENT_REQUEST_ID_MAX) {
    issues.push({ path: 'client_request_id', message: `Must be 1 to ${CLIENT_REQUEST_ID_MAX} characters, got ${value.length}.` });
    return null;
  }
  return value;
}

function validateWebhookUrl(value: unknown, issues: ValidationIssue[]): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    issues.push({ path: 'webhook_url', message: `Must be a URL (a string), got ${describe(value)}.` });
    return null;
  }
  if (value.length === 0 || value.length > WEBHOOK_URL_MAX) {
    issues.push({ path: 'webhook_url', message: `Must be a URL of 1 to ${WEBHOOK_URL_MAX} characters, got ${value.length}.` });
    return null;
  }
  return value;
}

function validateWebhookEvents(value: unknown, webhookUrl: unknown, issues: ValidationIssue[]): TaskWebhookEvents {
  if (value === undefined || value === null) return 'terminal';
  if (!Array.isArray(value) || value.length !== 1 || value[0] !== WEBHOOK_EVENTS_ALL) {
    issues.push({
      path: 'webhook_events',
      message: `Must be ["${WEBHOOK_EVENTS_ALL}"] (every event of the task) or left out (its terminal events only), got ${describe(value)}.`,
    });
    return 'terminal';
  }
  if (webhookUrl === undefined || webhookUrl === null) {
    issues.push({ path: 'webhook_events', message: 'Only with webhook_url: it says which events go there.' });
  }
  return 'all';
}

function validateParams(
  value: unknown,
  model: ModelRecord,
  issues: ValidationIssue[],
): { params: Record<string, string>; referenceMediaItems: ReferenceMediaItem[] } {
  const params: Record<string, string> = {};
  let referenceMediaItems: ReferenceMediaItem[] = [];
  if (value !== undefined && !isPlainObject(value)) {
    issues.push({ path: 'params', message: `Must be an object, got ${describe(value)}.` });
    return { params, referenceMediaItems };
  }
  const given = value ?? {};
  const known = new Set(model.params.map((param) => param.key));
  for (const key of Object.keys(given)) {
    if (!known.has(key) && key !== REFERENCE_ITEMS_KEY) {
      const allowed = [...known, REFERENCE_ITEMS_KEY].join(', ');
      issues.push({ path: `params.${key}`, message: `Unknown parameter for ${model.id}. Allowed: ${allowed}.` });
    }
  }
  for (const param of model.params) {
    const raw = given[param.key];
    if (raw === undefined || raw === null) {
      if (param.default !== null) params[param.key] = param.default;
      continue;
    }
    const option = typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : null;
    if (option === null || !param.options.includes(option)) {
      issues.push({
        path: `params.${param.key}`,
        message: `Must be one of ${param.options.map((o) => `"${o}"`).join(', ')}, got ${describe(raw)}.`,
      });
      continue;
    }
    params[param.key] = option;
  }
  if (given[REFERENCE_ITEMS_KEY] !== undefined) {
    referenceMediaItems = validateReferenceItems(given[REFERENCE_ITEMS_KEY], model, issues);
  }
  return { params, referenceMediaItems };
}

function validateReferenceItems(value: unknown, model: ModelRecord, issues: ValidationIssue[]): ReferenceMediaItem[] {
  const base = `params.${REFERENCE_ITEMS_KEY}`;
  const policy = model.upload_policy;
  if (!Array.isArray(value)) {
    issues.push({ path: base, message: `Must be an array, got ${describe(value)}.` });
    return [];
  }
  if (value.length > policy.max_files) {
    issues.push({ path: base, message: `At most ${policy.max_files} file(s) for ${model.id}, got ${value.length}.` });
  }
  const items: ReferenceMediaItem[] = [];
  value.forEach((item: unknown, index) => {
    const path = `${base}[${index}]`;
    if (!isPlainObject(item)) {
      issues.push({ path, message: `Must be an object, {file_id} or {url, kind, name, mimeType}, got ${describe(item)}.` });
      return;
    }
    const before = issues.length;
    for (const key of Object.keys(item)) {
      if (!REFERENCE_ITEM_KEYS.has(key)) issues.push({ path: `${path}.${key}`, message: 'Unknown field.' });
    }
    const { file_id: fileId, url, kind, name, mimeType, durationToken } = item;
    // With file_id the file's own url, kind, name and type are used: the others are optional
    // (and, given, must agree with the file). Without it, the long form is required.
    const short = fileId !== undefined;
    const required = (field: string, message: string) => {
      if (!short) issues.push({ path: `${path}.${field}`, message: `Required: ${message}` });
    };
    if (short && (typeof fileId !== 'string' || !FILE_ID.test(fileId))) {
      issues.push({ path: `${path}.file_id`, message: `Must be the id of one of your files (file_…), returned by POST /api/v1/files, got ${describe(fileId)}.` });
    }
    if (url === undefined) required('url', 'the url returned by POST /api/v1/files (or give the file\'s id alone, as file_id).');
    else if (typeof url !== 'string' || !isHttpUrl(url)) {
      issues.push({ path: `${path}.url`, message: `Must be the url returned by POST /api/v1/files, got ${describe(url)}.` });
    }
    const kindPolicy = policy.kinds.find((k) => k.kind === kind);
    const kinds = policy.kinds.map((k) => `"${k.kind}"`).join(', ');
    if (kind === undefined) required('kind', `one of ${kinds} for ${model.id}.`);
    else if (!kindPolicy) issues.push({ path: `${path}.kind`, message: `Must be one of ${kinds} for ${model.id}, got ${describe(kind)}.` });
    // The types allowed for the item's kind, or for any kind of the model when the kind is not one of them.
    const mimeTypes = kindPolicy ? kindPolicy.mime_types : policy.kinds.flatMap((k) => k.mime_types);
    const forKind = kindPolicy ? ` for kind ${kindPolicy.kind}` : '';
    if (mimeType === undefined) required('mimeType', `one of ${mimeTypes.join(', ')}${forKind}.`);
    else if ((kindPolicy || short) && (typeof mimeType !== 'string' || !mimeTypes.includes(mimeType))) {
      issues.push({ path: `${path}.mimeType`, message: `Must be one of ${mimeTypes.join(', ')}${forKind}, got ${describe(mimeType)}.` });
    }
    if (name === undefined) required('name', `a file name of 1 to ${NAME_MAX} characters.`);
    else if (typeof name !== 'string' || name.length === 0 || name.length > NAME_MAX) {
      issues.push({ path: `${path}.name`, message: `Must be a file name of 1 to ${NAME_MAX} characters, got ${describe(name)}.` });
    }
    // Video and audio need the file's duration token; with file_id alone the kind is the file's, checked at creation.
    const needsToken = kindPolicy !== undefined && (kind === 'video' || kind === 'audio');
    if (durationToken !== undefined && typeof durationToken !== 'string') {
      issues.push({ path: `${path}.durationToken`, message: `Must be a string, got ${describe(durationToken)}.` });
    } else if (needsToken && durationToken === undefined) {
      issues.push({ path: `${path}.durationToken`, message: 'Required for video and audio: the durationToken from /api/v1/files.' });
    }
    if (issues.length > before) return;
    const optional = {
      ...(typeof durationToken === 'string' ? { durationToken } : {}),
    };
    if (typeof fileId === 'string') {
      items.push({
        fileId,
        ...(typeof url === 'string' ? { url } : {}),
        ...(kindPolicy ? { kind: kindPolicy.kind } : {}),
        ...(typeof name === 'string' ? { name } : {}),
        ...(typeof mimeType === 'string' ? { mimeType } : {}),
        ...optional,
      });
    } else if (kindPolicy) {
      items.push({ url: url as string, kind: kindPolicy.kind, name: name as string, mimeType: mimeType as string, ...optional });
    }
  });
  return items;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}
