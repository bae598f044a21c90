/**
 * The kinds of file the Files API takes, the types of each (as sniffed from the bytes), and
 * their size limits. Limits are configuration (`FileLimits`); these are API.md's defaults.
 */

export type FileKind = 'image' | 'video' | 'audio';

export const FILE_KINDS: Readonly<Record<FileKind, readonly string[]>> = {
  image: ['image/jpeg', 'image/png', 'image/webp'],
  video: ['video/mp4', 'video/webm', 'video/quicktime'],
  audio: ['audio/mpeg', 'audio/wav', 'audio/mp4', 'audio/ogg'],
};

export type FileLimits = Readonly<Record<FileKind, number>>;

export const DEFAULT_FILE_LIMITS: FileLimits = { image: 10_000_000, video: 100_000_000, audio: 20_000_000 };

/** Other names of the same types, as sniffers and clients spell them. */
const ALIASES: Readonly<Record<string, string>> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'video/x-m4v': 'video/mp4',
  'audio/mp3': 'audio/mpeg',
  'audio/x-wav': 'audio/wav',
  'audio/wave': 'audio/wav',
  'audio/vnd.wave': 'audio/wav',
  'audio/x-m4a': 'audio/mp4',
  'audio/m4a': 'audio/mp4',
  'audio/opus': 'audio/ogg',
  'audio/x-flac': 'audio/flac',
};

/** A MIME type in canonical form: lower case, without parameters, aliases resolved. */
export function canonicalMimeType(type: string): string {
  const bare = (type.split(';')[0] ?? '').trim().toLowerCase();
  return ALIASES[bare] ?? bare;
}

/** The kind of a (canonical) MIME type, or null when the Files API does not take it. */
export function kindOf(mimeType: string): FileKind | null {
  for (const [kind, types] of Object.entries(FILE_KINDS) as [FileKind, readonly string[]][]) {
    if (types.includes(mimeType)) return kind;
  }
  return null;
}

export const SUPPORTED_TYPES: readonly string[] = Object.values(FILE_KINDS).flat();

/** The file extension to store a type under. */
export const EXTENSIONS: Readonly<Record<string, string>> = {
  'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp',
  'video/mp4': 'mp4', 'video/webm': 'webm', 'video/quicktime': 'mov',
  'audio/mpeg': 'mp3', 'audio/wav': 'wav', 'audio/mp4': 'm4a', 'audio/ogg': 'ogg',
};
