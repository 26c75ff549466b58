// A file drop's page (/s/<token> of an upload-only link): files dropped on
// the page or chosen with the button are sent one after another through the
// link's tus endpoint (<link>/uploads) with the vendored tus-js-client, so a
// dropped connection, a reload or a closed tab resumes from the last byte the
// server holds (the upload's address is kept in localStorage, keyed by the
// file's name, size and date and the link). The page shows only what this
// visitor sent, never what the folder holds: the server does not tell.
// Without this script the page's form posts the files in one request.

const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000]
const CHUNK = 8 * 1024 * 1024 // a phone on a bad network loses at most this much

const form = document.getElementById('drop')
const zone = document.getElementById('zone')
const input = document.getElementById('files')
const queue = document.getElementById('queue')
const endpoint = new URL(form.dataset.endpoint, document.baseURI).href
const waiting = []
let busy = false

form.addEventListener('submit', (event) => event.preventDefault())
input.addEventListener('change', () => {
  add(Array.from(input.files))
  input.value = '' // the same file may be chosen again (to resume it)
})

// The whole page takes a drop, not only the zone: a near miss must not make
// the browser open the file instead.
let depth = 0
document.addEventListener('dragenter', (event) => {
  if (!carriesFiles(event)) return
  event.preventDefault()
  depth++
  zone.classList.add('over')
})
document.addEventListener('dragleave', () => {
  depth = Math.max(0, depth - 1)
  if (!depth) zone.classList.remove('over')
})
document.addEventListener('dragover', (event) => {
  if (!carriesFiles(event)) return
  event.preventDefault()
  event.dataTransfer.dropEffect = 'copy'
})
document.addEventListener('drop', (event) => {
  if (!carriesFiles(event)) return
  event.preventDefault()
  depth = 0
  zone.classList.remove('over')
  add(Array.from(event.dataTransfer.files))
})

function carriesFiles(event) {
  return event.dataTransfer && Array.from(event.dataTransfer.types || []).includes('Files')
}

function add(files) {
  for (const file of files) waiting.push({ file, row: row(file) })
  next()
}

function row(file) {
  const li = document.createElement('li')
  const name = document.createElement('bdi')
  name.className = 'name'
  name.textContent = file.name
  const state = document.createElement('span')
  state.className = 'state'
  state.textContent = 'Waiting'
  const bar = document.createElement('progress')
  bar.max = 100
  bar.value = 0
  bar.setAttribute('aria-label', file.name)
  li.append(name, state, bar)
  queue.append(li)
  return { state, bar }
}

function show(row, text, failed = false) {
  row.state.textContent = text
  row.state.classList.toggle('failed', failed)
}

async function next() {
  if (busy || !waiting.length) return
  busy = true
  const { file, row } = waiting.shift()
  try {
    await send(file, row)
  } finally {
    busy = false
    next()
  }
}

function send(file, row) {
  return new Promise((resolve) => {
    const upload = new window.tus.Upload(file, {
      endpoint,
      chunkSize: CHUNK,
      retryDelays: RETRY_DELAYS,
      metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        const percent = total ? Math.floor((sent / total) * 100) : 100
        row.bar.value = percent
        show(row, `Sending… ${percent}%`)
      },
      onShouldRetry(err) {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0
        // 507 (no room), 403, 404, 410 (the link changed): retrying cannot help.
        const transient = status === 0 || status === 408 || status === 409 || status === 423 ||
          status === 429 || (status >= 500 && status !== 507 && status !== 501)
        if (transient) show(row, 'Reconnecting…')
        return transient
      },
      onSuccess() {
        row.bar.value = 100
        show(row, 'Sent')
        resolve()
      },
      onError(err) {
        show(row, `Not sent: ${reason(err)}`, true)
        resolve()
      },
    })
    upload.findPreviousUploads()
      .then((previous) => {
        if (previous.length) {
          upload.resumeFromPreviousUpload(previous[0])
          show(row, 'Resuming…')
        }
      })
      .catch(() => { /* no storage: start afresh */ })
      .finally(() => upload.start())
  })
}

function reason(err) {
  const res = err.originalResponse
  if (!res) return 'the connection failed'
  try {
    const body = JSON.parse(res.getBody() || '{}')
    if (body.error && body.error.message) return body.error.message
  } catch { /* not JSON */ }
  return `the server answered ${res.getStatus()}`
}
