export { Rivya, RivyaAdmin } from './client.js';
export type { ClientOptions, RequestOptions, RunOptions, UploadOptions, Uploadable, WaitOptions } from './client.js';
export * from './errors.js';
export { PagePromise } from './pagination.js';
export { CATALOG } from './catalog.js';
export type * from './types.js';
