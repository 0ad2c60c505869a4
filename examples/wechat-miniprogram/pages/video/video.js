// A page that uploads a large video with @presign-broker/client (clients/js): multipart straight to the store
// (parts read with FileSystemManager.readFileSync(path, undefined, position, length) and sent by wx.request PUT),
// parts in parallel, retried, progress in bytes, and resumable — the state is kept with wx.setStorageSync, so if
// the app is killed mid-upload, picking the same file again continues the same upload (the broker's list of parts
// decides what is left). clients/js/test/emulators.test.mjs runs this very page against the COS and Qiniu
// emulators, killing the app and restarting it.
//
// Setup: `npm install @presign-broker/client` in the mini-program project, then Tools → Build npm in the developer
// tools; legal domains as in ../../README.md (the broker under "request", the bucket's host under "request" too,
// since parts are sent by wx.request PUT). Base library ≥ 2.10.0 (readFileSync with position/length).

const { createClient } = require('@presign-broker/client');

const { brokerUrl, videoStore } = getApp().globalData;
// Placeholder: your app's login (wx.login -> your server -> a JWT the broker trusts, role "user").
const client = createClient({ baseUrl: brokerUrl, getToken: () => wx.getStorageSync('appToken') });

Page({
  data: { status: '', percent: 0, key: '' },
  controller: null,

  choose() {
    wx.chooseMedia({
      count: 1,
      mediaType: ['video'],
      success: ({ tempFiles: [f] }) => this.upload(f.tempFilePath),
    });
  },

  async upload(path) {
    // An AbortController where the base library has one; otherwise any {aborted, addEventListener, removeEventListener}.
    this.controller = typeof AbortController === 'function' ? new AbortController() : null;
    this.setData({ status: 'uploading', percent: 0, key: '' });
    const name = path.split('/').pop();
    try {
      const { key, size } = await client.upload(
        { path, name },
        {
          store: videoStore,
          filename: name,                    // the rule's key_template makes the key
          contentType: 'video/mp4',
          concurrency: 3,                    // a phone link: 3 parts of 8 MiB in flight
          signal: this.controller ? this.controller.signal : undefined,
          onProgress: ({ loaded, total }) => this.setData({ percent: Math.floor((loaded / total) * 100) }),
        },
      );
      this.setData({ status: `done: ${size} bytes`, key });
    } catch (e) {
      // BrokerError: e.code / e.status / e.requestId; UploadError: the store refused a part; AbortError: cancelled.
      this.setData({ status: e.name === 'AbortError' ? 'cancelled' : `failed (${e.code || e.status}): ${e.message}` });
    }
  },

  // Cancel aborts the multipart upload at the store; a crash or a lost network keeps it for the next attempt.
  cancel() {
    if (this.controller) this.controller.abort();
  },
});
