// A page that uploads a photo straight to Tencent COS and to Qiniu with @presign-broker/client (clients/js):
// the library asks the broker for a form credential (POST /v1/uploads) and posts the file with wx.uploadFile.
// The broker never sees the bytes; the mini-program holds no storage keys.
//   - COS sends no signed callback, so the page then calls POST /v1/uploads/confirm {store, key} to record it;
//   - Qiniu answers the upload with the broker's callback answer (the client returns its hash as `etag`).
// Broker refusals are BrokerError {status, code, requestId} (`code` is stable: policy_denied, ...).
//
// Setup: `npm install @presign-broker/client`, Tools → Build npm; settings in ../../app.js and ../../README.md.

const { createClient } = require('@presign-broker/client');

const { brokerUrl, photoStores } = getApp().globalData;
// Placeholder: your app's login (wx.login -> your server -> a JWT the broker trusts, role "user").
const getToken = () => wx.getStorageSync('appToken');
const client = createClient({ baseUrl: brokerUrl, getToken });

const IMAGE_TYPES = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', heic: 'image/heic' };

function confirm(store, key) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: `${brokerUrl}/v1/uploads/confirm`,
      method: 'POST',
      header: { Authorization: `Bearer ${getToken()}`, 'content-type': 'application/json' },
      data: { store, key },
      success: (res) => (res.statusCode === 200 ? resolve(res.data) : reject(new Error(`confirm: ${res.statusCode} ${JSON.stringify(res.data)}`))),
      fail: (err) => reject(new Error(`confirm: ${err.errMsg}`)),
    });
  });
}

Page({
  data: { busy: false, status: '', error: '', results: [] },

  onChoose() {
    wx.chooseMedia({
      count: 1,
      mediaType: ['image'],
      sizeType: ['compressed'],
      success: ({ tempFiles: [f] }) => this.upload(f.tempFilePath),
      // "chooseMedia:fail cancel": the user closed the picker
    });
  },

  async upload(path) {
    // chooseMedia gives a temp path, no MIME type: take it from the extension.
    const filename = path.split('/').pop();
    const contentType = IMAGE_TYPES[(filename.split('.').pop() || '').toLowerCase()] || 'application/octet-stream';
    this.setData({ busy: true, error: '', results: [] });
    const results = [];
    try {
      for (const [provider, store] of Object.entries(photoStores)) {
        this.setData({ status: `uploading to ${provider}…` });
        // Small files go up in one wx.uploadFile form POST; the rule's key_template makes the key from `filename`.
        const { key, etag, size } = await client.upload(path, { store, filename, contentType });
        if (provider === 'cos') await confirm(store, key);
        results.push({ store, key, size, etag });
        this.setData({ results });
      }
      this.setData({ status: 'done' });
    } catch (e) {
      this.setData({ status: 'failed', error: `${e.code || e.status || e.name}: ${e.message}` });
    } finally {
      this.setData({ busy: false });
    }
  },
});
