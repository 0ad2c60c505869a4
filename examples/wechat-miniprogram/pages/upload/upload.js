// A WeChat mini-program page that uploads a photo straight to Tencent COS and to Qiniu with credentials
// from presign-broker (the broker never sees the bytes; the mini-program holds no storage keys).
//
//   1. getAppToken(): your app's own JWT for the broker (placeholder below);
//   2. wx.chooseMedia picks an image;
//   3. POST /v1/uploads {store, filename, content_type, size} -> {url, fields, key, ...};
//   4. wx.uploadFile({url, filePath, name: 'file', formData: fields}) posts the form to the store;
//   5. COS sends no signed callback, so POST /v1/uploads/confirm {store, key} records the upload;
//      Qiniu answers the upload itself with JSON {key, hash, fsize, bucket} (relayed from the broker's callback).
// Broker errors are problem+json: {status, code, detail, request_id}; `code` is stable (policy_denied, ...).
//
// It cannot run outside WeChat: see ../../README.md for the project settings (legal domains) it needs.

const BROKER_URL = 'https://broker.example.com'; // must be https and listed under "request legal domains"

// Placeholder: your app's login (wx.login -> your server -> a JWT the broker trusts, role "user").
function getAppToken() {
  return Promise.resolve(wx.getStorageSync('appToken'));
}

const IMAGE_TYPES = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', heic: 'image/heic' };

// chooseMedia gives a temp path and a size, no MIME type: take it from the extension.
function describe(file) {
  const filename = file.tempFilePath.split('/').pop();
  const ext = (filename.split('.').pop() || '').toLowerCase();
  return { filename, content_type: IMAGE_TYPES[ext] || 'application/octet-stream', size: file.size };
}

class BrokerError extends Error {
  constructor(statusCode, problem) {
    super(`${problem.code || `HTTP ${statusCode}`}: ${problem.detail || problem.title || 'no detail'}`);
    this.statusCode = statusCode;
    this.code = problem.code;
    this.requestId = problem.request_id;
  }
}

// POST a JSON body to the broker; resolves with the JSON answer, rejects with a BrokerError.
function callBroker(token, path, data) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: BROKER_URL + path,
      method: 'POST',
      header: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      data,
      success(res) {
        if (res.statusCode === 200) resolve(res.data);
        // dataType 'json' (the default) parses the problem+json body too
        else reject(new BrokerError(res.statusCode, typeof res.data === 'object' && res.data ? res.data : {}));
      },
      fail(err) { reject(new Error(`broker unreachable: ${err.errMsg}`)); },
    });
  });
}

// wx.uploadFile has no Promise style: wrap it. Resolves with {statusCode, data} whatever the status.
function postForm(cred, filePath) {
  return new Promise((resolve, reject) => {
    wx.uploadFile({
      url: cred.url,
      filePath,
      name: 'file',            // the file goes last, as "file"
      formData: cred.fields,   // every field, unchanged: the policy signs them
      success: resolve,
      fail(err) { reject(new Error(`upload failed: ${err.errMsg}`)); },
    });
  });
}

async function uploadToCos(token, file) {
  const cred = await callBroker(token, '/v1/uploads', { store: 'wx', ...describe(file) });
  const res = await postForm(cred, file.tempFilePath);
  // success_action_status=200: an empty 200 on success; COS errors are XML (<Code>, <Message>)
  if (res.statusCode !== 200) throw new Error(`COS answered ${res.statusCode}: ${res.data}`);
  return callBroker(token, '/v1/uploads/confirm', { store: 'wx', key: cred.key }); // {store, key, size, etag, content_type}
}

async function uploadToQiniu(token, file) {
  const cred = await callBroker(token, '/v1/uploads', { store: 'qn', ...describe(file) });
  const res = await postForm(cred, file.tempFilePath);
  let body = {};
  try { body = JSON.parse(res.data); } catch (e) { /* not JSON: reported below */ }
  // Qiniu errors are JSON {error}; 579 means the object is stored but the broker's callback failed
  if (res.statusCode !== 200) throw new Error(`Qiniu answered ${res.statusCode}: ${body.error || res.data}`);
  return { store: 'qn', key: body.key, size: body.fsize, etag: body.hash };
}

Page({
  data: { busy: false, status: '', error: '', results: [] },

  async onChoose() {
    let file;
    try {
      const { tempFiles } = await wx.chooseMedia({ count: 1, mediaType: ['image'], sizeType: ['compressed'] });
      file = tempFiles[0];
    } catch (e) {
      return; // "chooseMedia:fail cancel": the user closed the picker
    }
    this.setData({ busy: true, error: '', results: [] });
    try {
      const token = await getAppToken();
      this.setData({ status: 'uploading to COS…' });
      const cos = await uploadToCos(token, file);
      this.setData({ status: 'uploading to Qiniu…', results: [cos] });
      const qiniu = await uploadToQiniu(token, file);
      this.setData({ status: 'done', results: [cos, qiniu] });
    } catch (e) {
      // e.code is the broker's problem code when it refused (policy_denied, payload_too_large, ...)
      this.setData({ status: 'failed', error: e.message });
    } finally {
      this.setData({ busy: false });
    }
  },
});
