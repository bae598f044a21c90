/**
 * The model catalog: one record per model, transcribed field for field from the model pages.
 * Validation, OpenAPI, error messages and SDK types are all derived from these records;
 * nothing about a model is written anywhere else.
 */

/**
 * A `select` parameter: a closed list of string options, exactly as on the model page
 * (`description` is the page's own word for it). `notes` is ours: what the options mean and what
 * happens when the parameter is left out, where the page's word is not enough.
 */
export interface SelectParam {
  readonly key: string;
  readonly type: 'select';
  readonly required: false;
  readonly default: string | null;
  readonly options: readonly string[];
  readonly description: string;
  readonly notes: string;
}

export interface UploadPolicy {
  readonly description: string;
  readonly max_files: number;
  readonly kinds: readonly {
    readonly kind: 'image' | 'video' | 'audio';
    readonly max_bytes: number;
    readonly mime_types: readonly string[];
  }[];
}

export interface ModelRecord {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly category: 'video';
  readonly inputs: readonly ('text' | 'file')[];
  readonly files: 'required_for_reference_modes';
  readonly credits: number;
  readonly pricing: 'fixed';
  readonly prompt_max_chars: number;
  readonly params: readonly SelectParam[];
  readonly upload_policy: UploadPolicy;
  readonly examples: {
    readonly minimal: Readonly<Record<string, unknown>>;
    readonly reference: Readonly<Record<string, unknown>>;
  };
}

const MB = 1_000_000;

/** `1280×720`: the output size of these params (from `outputDimensions`, so it is written once). */
function pixels(params: Readonly<Record<string, string>>): string {
  const { width, height } = outputDimensions(params);
  return `${width}×${height}`;
}

const COMMON_PARAMS = [
  {
    key: 'n_frames', type: 'select', required: false, default: '10', options: ['10', '15'], description: 'Duration',
    notes: 'The length of the video in seconds (10 or 15), despite the name: not a count of frames. The result\'s durationSeconds is this value.',
  },
  {
    key: 'aspect_ratio', type: 'select', required: false, default: 'landscape', options: ['landscape', 'portrait'], description: 'Aspect ratio',
    notes: `landscape is ${pixels({ aspect_ratio: 'landscape' })}, portrait ${pixels({ aspect_ratio: 'portrait' })} `
      + `(with sora-2-pro's size high: ${pixels({ aspect_ratio: 'landscape', size: 'high' })} and ${pixels({ aspect_ratio: 'portrait', size: 'high' })}).`,
  },
  {
    key: 'remove_watermark', type: 'select', required: false, default: 'false', options: ['false', 'true'], description: 'Remove watermark',
    notes: 'true: the video carries no watermark. The price is the same either way.',
  },
  {
    key: 'upload_method', type: 'select', required: false, default: 's3', options: ['s3', 'oss'], description: 'Upload target',
    notes: 'Where the result video is stored: s3 (Amazon S3) or oss (Alibaba Cloud OSS). The signed url in result.media points there.',
  },
] as const satisfies readonly SelectParam[];

const SIZE_PARAM = {
  key: 'size', type: 'select', required: false, default: null, options: ['standard', 'high'], description: 'Quality tier',
  notes: `standard is ${pixels({ size: 'standard' })} (landscape), high ${pixels({ size: 'high' })}; the price is the same. `
    + 'The model page gives size no default, and the catalog keeps it so: left out, the task\'s params carry no size, '
    + 'the video is made at standard, and an upstream provider is sent no size (its own default is standard).',
} as const satisfies SelectParam;

const REFERENCE_IMAGE_POLICY = {
  description: 'Reference image: Upload up to 1 image file for image projects.',
  max_files: 1,
  kinds: [{ kind: 'image', max_bytes: 10 * MB, mime_types: ['image/jpeg', 'image/png', 'image/webp'] }],
} as const satisfies UploadPolicy;

const EXAMPLE_PROMPT = 'A cinematic product reveal with smooth camera movement';
const EXAMPLE_REFERENCE = {
  url: 'https://cdn.example.com/reference-image.png',
  kind: 'image',
  name: 'reference-image.png',
  mimeType: 'image/png',
} as const;

export const MODELS = [
  {
    id: 'sora-2',
    name: 'Sora 2',
    description:
      'Use Sora 2 through Rivya Public API v1 with model id sora-2, supported inputs, parameters, Files API rules, credits, and response examples.',
    category: 'video',
    inputs: ['text', 'file'],
    files: 'required_for_reference_modes',
    credits: 6,
    pricing: 'fixed',
    prompt_max_chars: 10000,
    params: COMMON_PARAMS,
    upload_policy: REFERENCE_IMAGE_POLICY,
    examples: {
      minimal: {
        model: 'sora-2',
        prompt: EXAMPLE_PROMPT,
        params: { n_frames: '10', aspect_ratio: 'landscape', remove_watermark: 'false', upload_method: 's3' },
      },
      reference: {
        model: 'sora-2',
        prompt: EXAMPLE_PROMPT,
        params: {
          n_frames: '10', aspect_ratio: 'landscape', remove_watermark: 'false', upload_method: 's3',
          referenceMediaItems: [EXAMPLE_REFERENCE],
        },
      },
    },
  },
  {
    id: 'sora-2-pro',
    name: 'Sora 2 Pro',
    description:
      'Use Sora 2 Pro through Rivya Public API v1 with model id sora-2-pro, supported inputs, parameters, Files API rules, credits, and response examples.',
    category: 'video',
    inputs: ['text', 'file'],
    files: 'required_for_reference_modes',
    credits: 75,
    pricing: 'fixed',
    prompt_max_chars: 10000,
    params: [SIZE_PARAM, ...COMMON_PARAMS],
    upload_policy: REFERENCE_IMAGE_POLICY,
    examples: {
      minimal: {
        model: 'sora-2-pro',
        prompt: EXAMPLE_PROMPT,
        params: { size: 'standard', n_frames: '10', aspect_ratio: 'landscape', remove_watermark: 'false', upload_method: 's3' },
      },
      reference: {
        model: 'sora-2-pro',
        prompt: EXAMPLE_PROMPT,
        params: {
          size: 'standard', n_frames: '10', aspect_ratio: 'landscape', remove_watermark: 'false', upload_method: 's3',
          referenceMediaItems: [EXAMPLE_REFERENCE],
        },
      },
    },
  },
] as const satisfies readonly ModelRecord[];

export type ModelId = (typeof MODELS)[number]['id'];

/** The parameter keys each model accepts, e.g. `ParamKey<'sora-2'>` excludes `size`. */
export type ParamKey<M extends ModelId> = Extract<(typeof MODELS)[number], { id: M }>['params'][number]['key'];

const BY_ID: ReadonlyMap<string, ModelRecord> = new Map(MODELS.map((model) => [model.id, model]));

export function findModel(id: string): ModelRecord | undefined {
  return BY_ID.get(id);
}

export const MODEL_IDS: readonly ModelId[] = MODELS.map((model) => model.id);

/** The key inside `params` that carries reference files; it is not a select param. */
export const REFERENCE_ITEMS_KEY = 'referenceMediaItems';

/** Output dimensions of a task, from its normalized params (API.md, "Dimensions"). */
export function outputDimensions(params: Readonly<Record<string, string>>): { width: number; height: number } {
  const long = params['size'] === 'high' ? 1792 : 1280;
  const short = params['size'] === 'high' ? 1024 : 720;
  return params['aspect_ratio'] === 'portrait' ? { width: short, height: long } : { width: long, height: short };
}

/** Output duration in seconds: `n_frames` is the duration (API.md). */
export function outputDurationSeconds(params: Readonly<Record<string, string>>): number {
  return Number(params['n_frames'] ?? '10');
}
