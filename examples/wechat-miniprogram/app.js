// The mini-program's app: where the pages find the broker and their stores (change these for your deployment).
App({
  globalData: {
    brokerUrl: 'https://broker.example.com', // https, listed under "request legal domains"
    photoStores: { cos: 'wx', qiniu: 'qn' }, // pages/upload: one photo to each
    videoStore: 'media',                     // pages/video: large files, multipart
  },
});
