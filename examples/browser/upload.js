// presign-broker from a browser, with no SDK and no build step (see index.html for how to serve it).
//
// (a) formUpload: POST /v1/uploads for a presigned form POST, then a multipart/form-data POST of every
//     `fields` pair and the file last, as `file`, straight to the store.
// (b) multipartUpload: POST /v1/multipart, part URLs signed in batches (POST /v1/multipart/{id}/parts),
//     each part PUT with XMLHttpRequest (for upload progress) and its ETag read from the response
//     header (the bucket's CORS must expose ETag), then POST /v1/multipart/{id}/complete; on any
//     failure DELETE /v1/multipart/{id} aborts the upload so no orphaned parts are left behind.
//
// Broker errors are RFC 9457 problem+json with a stable `code`; they surface as BrokerError.

/** An error answer of the broker: `code` is the problem's stable code (policy_denied, ...). */
export class BrokerError extends Error {
  constructor(status, problem) {
    super(`${problem?.code ?? `HTTP ${status}`}: ${problem?.detail ?? problem?.title ?? 'no detail'}`);
    this.name = 'BrokerError';
    this.status = status;
    this.code = problem?.code ?? 'http_error';
    this.requestId = problem?.request_id;
  }
}

/** An error answer of the storage provider (S3 answers XML; its body is kept as `detail`). */
export class StorageError extends Error {
  constructor(status, detail) {
    super(`storage answered ${status || 'nothing'}: ${detail}`);
    this.name = 'StorageError';
    this.status = status;
    this.code = 'storage_error';
  }
}

/** Calls the broker: JSON in, JSON out, problem+json on errors. */
export async function callBroker({ brokerUrl, token }, method, path, body) {
  let res;
  try {
    res = await fetch(brokerUrl.replace(/\/+$/, '') + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    // A failed fetch hides the reason; usually the broker is down or its CORS does not list this origin.
    throw new BrokerError(0, { code: 'network_error', detail: `${e.message} (is ${location.origin} in cors_origins?)` });
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = JSON.parse(text); } catch { /* not JSON: reported below */ }
  if (!res.ok) throw new BrokerError(res.status, data ?? { detail: text.slice(0, 200) });
  return data;
}

/** (a) Uploads `file` with a presigned form POST; the broker makes the key (the rule's key_template). */
export async function formUpload(cfg, file) {
  const cred = await callBroker(cfg, 'POST', '/v1/uploads', {
    store: cfg.store,
    filename: file.name,
    content_type: file.type || 'application/octet-stream',
    size: file.size, // refused at once (413) when over the rule's max_size
  });
  const form = new FormData();
  for (const [name, value] of Object.entries(cred.fields)) form.append(name, value);
  form.append('file', file); // last, as the policy requires
  const res = await fetch(cred.url, { method: 'POST', body: form });
  if (!res.ok) throw new StorageError(res.status, (await res.text()).slice(0, 300));
  return { key: cred.key, size: file.size };
}

/** (b) Uploads `file` in parts; `onProgress(fraction)` follows the bytes sent. */
export async function multipartUpload(cfg, file, key, { batch = 100, concurrency = 3, onProgress = () => {} } = {}) {
  // `handle` binds the upload's limits; every later call sends it back.
  const { upload_id, part_size, handle } = await callBroker(cfg, 'POST', '/v1/multipart', {
    store: cfg.store,
    key,
    content_type: file.type || 'application/octet-stream',
    size: file.size,
  });
  const base = `/v1/multipart/${encodeURIComponent(upload_id)}`;
  const count = Math.max(1, Math.ceil(file.size / part_size));
  const etags = new Array(count);
  const sent = new Array(count).fill(0);
  const report = () => onProgress(sent.reduce((a, b) => a + b, 0) / Math.max(1, file.size));
  try {
    // Sign a batch of part URLs just before using them, so none expires while earlier parts upload.
    for (let first = 1; first <= count; first += batch) {
      const numbers = Array.from({ length: Math.min(batch, count - first + 1) }, (_, i) => first + i);
      const { parts } = await callBroker(cfg, 'POST', `${base}/parts`, {
        store: cfg.store, key, handle, part_numbers: numbers,
      });
      await inPool(parts, concurrency, async ({ part_number, url, headers }) => {
        const start = (part_number - 1) * part_size;
        const blob = file.slice(start, Math.min(start + part_size, file.size));
        etags[part_number - 1] = await putPart(url, headers, blob, (n) => { sent[part_number - 1] = n; report(); });
      });
    }
    const done = await callBroker(cfg, 'POST', `${base}/complete`, {
      store: cfg.store, key, handle, parts: etags.map((etag, i) => ({ part_number: i + 1, etag })),
    });
    return { ...done, parts: count };
  } catch (e) {
    const q = new URLSearchParams({ store: cfg.store, key, handle });
    await callBroker(cfg, 'DELETE', `${base}?${q}`).catch(() => {}); // best effort
    throw e;
  }
}

/**
 * PUTs one part to its presigned URL with the broker's `headers`; resolves with the part's ETag (quotes included).
 * A signed `Content-Length` is left to the browser, which sends the blob's own length (it may not be set by hand).
 */
function putPart(url, headers, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    for (const [name, value] of Object.entries(headers ?? {})) {
      if (name.toLowerCase() !== 'content-length') xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      const etag = xhr.getResponseHeader('ETag');
      if (xhr.status >= 200 && xhr.status < 300 && etag) {
        onProgress(blob.size);
        resolve(etag);
      } else if (xhr.status >= 200 && xhr.status < 300) {
        reject(new StorageError(xhr.status, 'no ETag header: the bucket CORS must expose ETag'));
      } else {
        reject(new StorageError(xhr.status, xhr.responseText.slice(0, 300)));
      }
    };
    xhr.onerror = () => reject(new StorageError(0, 'network error (does the bucket answer CORS for this origin?)'));
    xhr.send(blob);
  });
}

/** Runs `task` over `items`, at most `limit` at a time; rejects on the first failure. */
async function inPool(items, limit, task) {
  const queue = [...items];
  const worker = async () => { while (queue.length) await task(queue.shift()); };
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, worker));
}

/** The `sub` claim of a JWT, read (not verified) to suggest a key prefix. */
function tokenSubject(token) {
  try {
    return JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sub ?? '';
  } catch {
    return '';
  }
}

// ---- the page --------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const id of ['broker', 'token', 'store', 'prefix']) {
  if (params.has(id)) $(id).value = params.get(id);
}
const tuning = {
  batch: Number(params.get('batch')) || 100,
  concurrency: Number(params.get('concurrency')) || 3,
};

function config() {
  return { brokerUrl: $('broker').value.trim(), token: $('token').value.trim(), store: $('store').value.trim() };
}

/** Shows the outcome in an <output>; data-* attributes let a test read it. */
function show(out, status, text, data = {}) {
  for (const k of Object.keys(out.dataset)) delete out.dataset[k];
  Object.assign(out.dataset, { status, ...data });
  out.value = text;
}

async function run(out, button, fileInput, action) {
  const file = fileInput.files[0];
  if (!file) return show(out, 'error', 'choose a file first', { code: 'no_file' });
  button.disabled = true;
  show(out, 'running', `uploading ${file.name} (${file.size} bytes)…`);
  try {
    const result = await action(file);
    show(out, 'ok', `uploaded ${result.key}`, Object.fromEntries(Object.entries(result).map(([k, v]) => [k, String(v)])));
  } catch (e) {
    show(out, 'error', e.message, { code: e.code ?? 'error', httpStatus: String(e.status ?? '') });
  } finally {
    button.disabled = false;
  }
}

$('form-upload').addEventListener('click', () =>
  run($('form-result'), $('form-upload'), $('form-file'), (file) => formUpload(config(), file)));

$('mp-upload').addEventListener('click', () =>
  run($('mp-result'), $('mp-upload'), $('mp-file'), (file) => {
    const cfg = config();
    const prefix = $('prefix').value.trim() || `browser/${tokenSubject(cfg.token)}/`;
    const key = `${prefix}${Date.now()}-${file.name.replace(/[^\w.-]+/g, '_')}`;
    $('mp-progress').value = 0;
    return multipartUpload(cfg, file, key, { ...tuning, onProgress: (f) => { $('mp-progress').value = f; } });
  }));
