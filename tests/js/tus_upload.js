// Upload one file with the stock tus-js-client (Node build), as the web UI will.
//   node tus_upload.js ENDPOINT TOKEN FILE TARGET_PATH [CHUNK_BYTES]
// Prints the final upload URL on success; exits 1 with the error otherwise.
const fs = require("fs");
const tus = require("tus-js-client");

const [endpoint, token, file, target, chunk] = process.argv.slice(2);
const size = fs.statSync(file).size;
const upload = new tus.Upload(fs.createReadStream(file), {
  endpoint,
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: target.split("/").pop(), folder: target.split("/").slice(0, -1).join("/") || "/" },
  uploadSize: size,
  chunkSize: chunk ? Number(chunk) : Infinity,
  retryDelays: [0, 500, 1000, 2000],
  onError: (err) => { console.error(String(err)); process.exit(1); },
  onSuccess: () => { console.log(upload.url); },
});
upload.start();
