import { bn } from './dictionaries/bn.js';
import { en, type Dictionary, type StringKey } from './dictionaries/en.js';

/** The languages of the pages: English at the root, each other under its own prefix (`/bn/docs`). */
export const LANGS = ['en', 'bn'] as const;
export type Lang = (typeof LANGS)[number];

export const DICTIONARIES: Readonly<Record<Lang, Dictionary>> = { en, bn };

/** The name of each language, written in that language (for the language switch). */
export const LANG_NAMES: Readonly<Record<Lang, string>> = { en: 'English', bn: 'বাংলা' };

/** `/docs/errors` in `lang`: unchanged for English, `/bn/docs/errors` for Bengali. */
export function localePath(lang: Lang, path: string): string {
  return lang === 'en' ? path : `/${lang}${path}`;
}

/**
 * Strings that stay the same in every language: names, ids, column names that are field names
 * and code. Every other Bengali string must differ from its English one (a test checks).
 */
export const SAME_IN_EVERY_LANGUAGE: readonly StringKey[] = [
  'site_name', 'models_col_id', 'errors_col_code', 'errors_col_status', 'files_col_kind', 'files_col_types',
  'model_fact_id', 'snippet_curl', 'snippet_sdk', 'snippet_cli',
  // Kept in English on the Bengali seed page (seeds/sora-2.bn.txt): its section headings and table columns.
  'prompt_limit_value', 'model_request_contract', 'col_key', 'col_type', 'col_required', 'col_default', 'col_range', 'col_options',
  'model_parameters', 'model_upload_policy', 'files_col_max', 'model_minimal_request', 'model_create_response', 'model_common_errors',
];

export type { Dictionary, StringKey };
