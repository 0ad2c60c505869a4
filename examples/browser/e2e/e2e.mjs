// End-to-end test of examples/browser in a real browser (Debian's Chromium, headless, via playwright-core):
// both uploads go through the page's UI, straight from the browser to SeaweedFS, and the bytes are read
// back through broker-signed download URLs. run.sh sets everything up; to run it by hand:
//
//   BROKER_URL=http://127.0.0.1:18090 BROKER_TOKEN=<JWT, sub e2e, role user> \
//   S3_ENDPOINT=http://127.0.0.1:8333 S3_BUCKET=pb-test node e2e.mjs
//
// Optional: BROKER_STORE (media), E2E_PORT (18091, the static server; the broker's cors_origins must list
// http://127.0.0.1:$E2E_PORT), CHROMIUM (/usr/bin/chromium), E2E_TIMEOUT_MS per upload (60000).
// Starts only a static file server for examples/browser on 127.0.0.1. Prints `N passed, M failed` last and
// exits non-zero on any failure.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`e2e: set ${name} (see the header of e2e.mjs)`);
    process.exit(2);
  }
  return value;
};
const BROKER_URL = env('BROKER_URL').replace(/\/+$/, '');
const BROKER_TOKEN = env('BROKER_TOKEN');
const S3_ENDPOINT = env('S3_ENDPOINT').replace(/\/+$/, '');
const S3_BUCKET = env('S3_BUCKET');
const STORE = env('BROKER_STORE', 'media');
const PORT = Number(env('E2E_PORT', '18091'));
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const TIMEOUT = Number(env('E2E_TIMEOUT_MS', '60000'));
const ORIGIN = `http://127.0.0.1:${PORT}`;
const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url))); // examples/browser

// ---- a tiny static server for examples/browser ---------------------------------------------------

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css' };

function serveStatic(req, res) {
  const path = decodeURIComponent(new URL(req.url, ORIGIN).pathname);
  const file = resolve(join(ROOT, path.endsWith('/') ? `${path}index.html` : path));
  const type = TYPES[extname(file)];
  if (!file.startsWith(ROOT + sep) || file.includes(`${sep}e2e${sep}`) || !type) {
    res.writeHead(404).end();
    return;
  }
  stat(file).then(
    (s) => {
      res.writeHead(200, { 'content-type': type, 'content-length': s.size, 'cache-control': 'no-store' });
      createReadStream(file).pipe(res);
    },
    () => res.writeHead(404).end(),
  );
}

// ---- helpers -----------------------------------------------------------------------------------

async function broker(path, body) {
  const res = await fetch(BROKER_URL + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${BROKER_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`broker ${path} answered ${res.status}: ${JSON.stringify(data)}`);
  return data;
}

/** The object's bytes, through a broker-signed download URL. */
async function download(key) {
  const { url } = await broker('/v1/downloads', { store: STORE, key });
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${key} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return Buffer.from(await res.arrayBuffer());
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Puts `buffer` on the file input, clicks the button, waits for the <output> to settle; its data-*. */
async function uploadThroughPage(page, { input, button, output }, name, buffer) {
  await page.setInputFiles(input, { name, mimeType: 'application/octet-stream', buffer });
  await page.click(button);
  await page.waitForSelector(`${output}[data-status=ok], ${output}[data-status=error]`, { timeout: TIMEOUT });
  return page.$eval(output, (el) => ({ ...el.dataset, text: el.value }));
}

// ---- the tests ---------------------------------------------------------------------------------

const results = [];
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push(true);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push(false);
    console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${e.message}`);
  }
}

const server = createServer(serveStatic);
await new Promise((ok, fail) => server.once('error', fail).listen(PORT, '127.0.0.1', ok));
const profile = await mkdtemp(join(tmpdir(), 'pb-e2e-chromium-'));
let context;
try {
  await test('the store answers a CORS preflight for the page origin, exposing ETag', async () => {
    const res = await fetch(`${S3_ENDPOINT}/${S3_BUCKET}/browser/preflight?partNumber=1&uploadId=x`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'PUT' },
    });
    const allowed = res.headers.get('access-control-allow-origin');
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    assert(res.ok && (allowed === ORIGIN || allowed === '*'), `preflight ${res.status}, allow-origin ${allowed}`);
    assert(exposed.split(/\s*,\s*/).includes('etag'), `ETag not exposed (expose-headers: ${exposed})`);
  });

  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const logs = [];
  page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`page error: ${e.message}`));
  const query = new URLSearchParams({ broker: BROKER_URL, token: BROKER_TOKEN, store: STORE, batch: '2' });
  await page.goto(`${ORIGIN}/index.html?${query}`);
  const form = { input: '#form-file', button: '#form-upload', output: '#form-result' };
  const multipart = { input: '#mp-file', button: '#mp-upload', output: '#mp-result' };

  await test('form upload (presigned POST, 200 KB) through the page, read back byte for byte', async () => {
    const bytes = randomBytes(200 * 1024);
    const out = await uploadThroughPage(page, form, 'photo.bin', bytes);
    assert(out.status === 'ok', `page reported ${out.code}: ${out.text}`);
    assert(/^browser\/e2e\/[0-9a-f-]{36}\.bin$/.test(out.key), `unexpected key ${out.key}`);
    assert((await download(out.key)).equals(bytes), 'downloaded bytes differ');
  });

  await test('multipart upload (19 MiB, 3 parts of 8 MiB, URLs signed 2 a call) with progress, read back', async () => {
    const bytes = randomBytes(19 * 1024 * 1024);
    const out = await uploadThroughPage(page, multipart, 'video clip.bin', bytes);
    assert(out.status === 'ok', `page reported ${out.code}: ${out.text}`);
    assert(out.parts === '3', `expected 3 parts, the page used ${out.parts}`);
    assert(out.size === String(bytes.length), `complete reported size ${out.size}`);
    assert(/-3"?$/.test(out.etag), `expected a 3-part ETag, got ${out.etag}`);
    assert((await page.$eval('#mp-progress', (el) => el.value)) === 1, 'progress did not reach 100%');
    assert((await download(out.key)).equals(bytes), 'downloaded bytes differ');
  });

  await test('a refused request shows the broker problem code (policy_denied)', async () => {
    await page.fill('#prefix', 'browser/someone-else/');
    const out = await uploadThroughPage(page, multipart, 'x.bin', randomBytes(1024));
    await page.fill('#prefix', '');
    assert(out.status === 'error' && out.code === 'policy_denied' && out.httpStatus === '403',
      `page reported ${out.status} ${out.code} (${out.httpStatus}): ${out.text}`);
  });

  if (results.includes(false) && logs.length) console.log(`page log:\n  ${logs.join('\n  ')}`);
} catch (e) {
  results.push(false);
  console.log(`FAIL setup: ${e.stack ?? e}`);
} finally {
  await context?.close().catch(() => {});
  server.close();
  await rm(profile, { recursive: true, force: true });
}

if (process.env.E2E_STARTED_AT) console.log(`run.sh total: ${Math.round(Date.now() / 1000 - Number(process.env.E2E_STARTED_AT))} s`);
const failed = results.filter((ok) => !ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
