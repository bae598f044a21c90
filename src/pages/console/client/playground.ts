import { $, api, ApiFailure, fill, showError, type Root } from './api.js';
import { followTask, type Task } from './tasks.js';

interface Uploaded { id: string; url: string; kind: string; name: string; mimeType: string }

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

const CLI_FLAGS: Record<string, (value: string) => string | null> = {
  size: (value) => (value ? `--size ${value}` : null),
  n_frames: (value) => `--frames ${value}`,
  aspect_ratio: (value) => `--${value}`,
  remove_watermark: (value) => (value === 'true' ? '--no-watermark' : null),
  upload_method: (value) => `--target ${value}`,
};

/** The playground: the catalog's form, the price, the code panel, and the task followed live once created. */
export function startPlayground(root: Root): void {
  const { t } = root;
  const form = $<HTMLFormElement>('playground');
  const model = $<HTMLSelectElement>('model');
  const prompt = $<HTMLTextAreaElement>('prompt');
  const fileInput = $<HTMLInputElement>('reference');
  const dropzone = $('dropzone');
  const formError = $('form-error');
  const generate = $<HTMLButtonElement>('generate');
  let reference: Uploaded | null = null;

  const selected = () => model.selectedOptions[0] as HTMLOptionElement;
  const paramControls = () => [...form.querySelectorAll<HTMLSelectElement>('select[name^="params."]')].filter((control) => !control.disabled);

  const body = (): Record<string, unknown> => {
    const params: Record<string, unknown> = {};
    for (const control of paramControls()) if (control.value !== '') params[control.name.slice('params.'.length)] = control.value;
    if (reference) params['referenceMediaItems'] = [{ url: reference.url, kind: reference.kind, name: reference.name, mimeType: reference.mimeType }];
    return { model: model.value, prompt: prompt.value, params };
  };

  const updateCode = () => {
    const request = body();
    const origin = window.location.origin;
    $('code-curl').textContent = [
      `curl -s ${origin}/api/v1/tasks \\`,
      '  -H "Authorization: Bearer $RIVYA_API_KEY" \\',
      "  -H 'Content-Type: application/json' \\",
      `  -H "Idempotency-Key: $(node -e 'console.log(crypto.randomUUID())')" \\`,
      `  -d ${shellQuote(JSON.stringify(request))}`,
    ].join('\n');
    $('code-sdk').textContent = [
      "import { Rivya } from '@rivya/sdk';",
      '',
      `const rivya = new Rivya({ baseUrl: '${origin}' }); // RIVYA_API_KEY`,
      `const task = await rivya.tasks.run(${JSON.stringify(request, null, 2)});`,
      'console.log(task.result?.media[0]?.url);',
    ].join('\n');
    const params = request['params'] as Record<string, string>;
    const flags = Object.entries(params).flatMap(([key, value]) => {
      const flag = typeof value === 'string' ? CLI_FLAGS[key]?.(value) : null;
      return flag ? [flag] : [];
    });
    if (reference) flags.push(`--image ${shellQuote(reference.name)}`);
    $('code-cli').textContent = `RIVYA_BASE_URL=${origin} rivya generate ${shellQuote(prompt.value)} --model ${model.value} ${flags.join(' ')} --out ${model.value}.mp4`;
  };

  const updateModel = () => {
    const option = selected();
    const max = Number(option.dataset['maxChars']);
    prompt.maxLength = max;
    const keys = new Set((option.dataset['params'] ?? '').split(' '));
    for (const field of form.querySelectorAll<HTMLElement>('[data-param]')) {
      const on = keys.has(field.dataset['param'] ?? '');
      field.hidden = !on;
      const control = field.querySelector('select');
      if (control) control.disabled = !on;
    }
    $('price').textContent = fill(t['console_credits_unit'] ?? '', { count: option.dataset['credits'] ?? '' });
    updateCount();
  };
  const updateCount = () => {
    const count = [...prompt.value].length;
    $('prompt-count').textContent = fill(t['console_chars'] ?? '', { count, max: prompt.maxLength });
  };
  const refreshCredits = async () => {
    const account = await api<{ credits: { available: number } }>('GET', '/api/v1/account');
    $('available').textContent = fill(t['console_credits_unit'] ?? '', { count: account.credits.available });
  };

  const clearErrors = () => {
    formError.hidden = true;
    for (const node of form.querySelectorAll<HTMLElement>('[data-error-for]')) {
      node.hidden = true;
      node.textContent = '';
    }
    for (const node of form.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
  };
  const showIssues = (error: ApiFailure) => {
    const unplaced: string[] = [];
    for (const issue of error.issues) {
      // `params.referenceMediaItems[0].url` belongs to the reference picker: the longest named prefix wins.
      const slot = [...form.querySelectorAll<HTMLElement>('[data-error-for]')]
        .filter((node) => issue.path === node.dataset['errorFor'] || issue.path.startsWith(`${node.dataset['errorFor'] ?? ''}[`) || issue.path.startsWith(`${node.dataset['errorFor'] ?? ''}.`))
        .sort((a, b) => (b.dataset['errorFor'] ?? '').length - (a.dataset['errorFor'] ?? '').length)[0];
      if (!slot) {
        unplaced.push(`${issue.path}: ${issue.message}`);
        continue;
      }
      slot.textContent = issue.message;
      slot.hidden = false;
      slot.parentElement?.querySelector('select, textarea, input')?.setAttribute('aria-invalid', 'true');
    }
    if (unplaced.length > 0 || error.issues.length === 0) showError(formError, new Error([error.message, ...unplaced].join(' ')));
  };

  const upload = async (file: File) => {
    clearErrors();
    const status = $('reference-hint');
    const hint = status.textContent;
    status.textContent = t['console_uploading'] ?? '';
    try {
      const data = new FormData();
      data.append('file', file, file.name);
      reference = await api<Uploaded>('POST', '/api/v1/files', data);
      const reader = new FileReader();
      reader.onload = () => {
        $<HTMLImageElement>('reference-image').src = typeof reader.result === 'string' ? reader.result : '';
        $('reference-preview').hidden = false;
      };
      reader.readAsDataURL(file);
      updateCode();
    } catch (error) {
      reference = null;
      const slot = form.querySelector<HTMLElement>('[data-error-for="params.referenceMediaItems"]');
      if (slot) showError(slot, error);
    } finally {
      status.textContent = hint;
    }
  };

  model.addEventListener('change', () => { updateModel(); updateCode(); });
  prompt.addEventListener('input', () => { updateCount(); updateCode(); });
  form.addEventListener('change', updateCode);
  fileInput.addEventListener('change', () => { const file = fileInput.files?.[0]; if (file) void upload(file); });
  dropzone.addEventListener('dragover', (event) => { event.preventDefault(); dropzone.classList.add('dragging'); });
  dropzone.addEventListener('dragleave', () => dropzone.classList.remove('dragging'));
  dropzone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropzone.classList.remove('dragging');
    const file = event.dataTransfer?.files[0];
    if (file) void upload(file);
  });
  $('reference-remove').addEventListener('click', () => {
    reference = null;
    fileInput.value = '';
    $('reference-preview').hidden = true;
    updateCode();
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors();
    generate.disabled = true;
    void (async () => {
      try {
        const task = await api<Task>('POST', '/api/v1/tasks', body());
        await refreshCredits();
        showTask(root, task, refreshCredits);
      } catch (error) {
        if (error instanceof ApiFailure) showIssues(error);
        else showError(formError, error);
      } finally {
        generate.disabled = false;
      }
    })();
  });

  updateModel();
  updateCode();
  void refreshCredits().catch((error: unknown) => showError(formError, error));
}

function showTask(root: Root, task: Task, onEnd: () => Promise<void>): void {
  const section = $('result');
  section.hidden = false;
  const link = $<HTMLAnchorElement>('result-task');
  link.textContent = task.id;
  link.href = `${root.base}/tasks/${task.id}`;
  const video = $<HTMLVideoElement>('result-video');
  const download = $<HTMLAnchorElement>('result-download');
  video.hidden = true;
  download.hidden = true;
  $('result-error').hidden = true;
  followTask(task, (current) => {
    $<HTMLProgressElement>('result-progress').value = current.progress;
    $('result-percent').textContent = `${current.progress}%`;
    $('result-status').textContent = current.status;
    const media = current.result?.media[0];
    if (current.status === 'succeeded' && media) {
      video.src = media.url;
      video.hidden = false;
      download.href = media.url;
      download.hidden = false;
    }
    if (current.error) showError($('result-error'), new Error(`${current.error.code}: ${current.error.message}`));
    if (['succeeded', 'failed', 'canceled'].includes(current.status)) void onEnd();
  });
}
