import type { ReferenceMediaItem } from '../catalog/validate-task-request.js';
import type { Account, TaskReferenceFile } from '../domain.js';
import { validationFailed } from '../errors.js';

/**
 * Reference items must name files uploaded through this server's Files API; the server never
 * fetches an arbitrary URL. Until a store of uploaded files is wired in, no URL qualifies.
 */
export async function refuseUnknownReferences(_account: Account, items: ReferenceMediaItem[]): Promise<TaskReferenceFile[]> {
  if (items.length === 0) return [];
  throw validationFailed(
    items.map((_, index) => ({
      path: `params.referenceMediaItems[${index}].url`,
      message: 'Must be the url of one of your files, returned by POST /api/v1/files.',
    })),
  );
}
