// The upload manager: every file goes through the tus endpoint with the
// vendored tus-js-client, a few at a time, each resumable. A dropped
// connection or a restarted server is retried with backoff from the last
// byte the server holds; the fingerprint (user, target, size, mtime) is kept
// in localStorage, so dropping the same file again after closing the tab
// resumes it too. Name clashes are settled before a file is queued.

import { api, csrf } from './api.js'
import { t } from './strings.js'
import { createStore } from './ui.js'
import { freeName, joinPath } from './util.js'

/** How many files upload at once. */
const PARALLEL = 3
/** Bytes per PATCH: big enough for speed, small enough for proxies' body limits. */
const CHUNK = 64 * 1024 * 1024
const RETRY_DELAYS = [0, 1000, 2000, 4000, 8000, 15000, 30000, 30000, 60000, 60000, 60000]

/** tasks: [{id, name, folder, size, sent, state, speed, eta, error}] */
export const uploads = createStore({ tasks: [], collapsed: false })
/** fires {detail: folder} when a file lands there */
export const landed = new EventTarget()

let nextId = 0
let currentUser = ''
export function setUploadUser(name) { currentUser = name }

function update(id, patch) {
  uploads.set((s) => ({ ...s, tasks: s.tasks.map((x) => (x.id === id ? { ...x, ...patch } : x)) }))
}
const live = new Map() // id -> {file, upload, baseRev, samples}

/**
 * Queue files: items are {file, folder, name, baseRev} where baseRev is 0
 * (no file expected there: a file that appears meanwhile makes this one a
 * conflict copy), a revision to replace, or null (replace whatever is there).
 * Returns the new tasks' ids, in the order of items.
 */
export function enqueue(items) {
  const added = items.map((item) => {
    const id = ++nextId
    live.set(id, { file: item.file, baseRev: item.baseRev ?? null, upload: null, samples: [] })
    return {
      id, name: item.name, folder: item.folder, size: item.file.size, sent: 0,
      state: 'queued', speed: 0, eta: Infinity, error: '',
    }
  })
  uploads.set((s) => ({ ...s, tasks: [...s.tasks, ...added], collapsed: false }))
  pump()
  return added.map((task) => task.id)
}

function pump() {
  const { tasks } = uploads.get()
  let running = tasks.filter((x) => x.state === 'uploading').length
  for (const task of tasks) {
    if (running >= PARALLEL) break
    if (task.state === 'queued') { running++; start(task) }
  }
}

async function start(task) {
  const entry = live.get(task.id)
  update(task.id, { state: 'uploading', error: '' })
  const tus = window.tus
  const upload = new tus.Upload(entry.file, {
    endpoint: '/api/v1/uploads',
    chunkSize: CHUNK,
    retryDelays: RETRY_DELAYS,
    headers: { 'X-CSRF-Token': csrf() || '' },
    metadata: {
      filename: task.name,
      folder: task.folder,
      mtime: String(entry.file.lastModified || Date.now()),
      ...(entry.baseRev === null ? {} : { base_rev: String(entry.baseRev) }),
    },
    fingerprint: async (file) => ['selfdrive', currentUser, joinPath(task.folder, task.name),
      file.size, file.lastModified].join('\u0000'),
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    onProgress(sent, total) { progress(task.id, sent, total) },
    onShouldRetry(err) {
      const status = err.originalResponse ? err.originalResponse.getStatus() : 0
      // 507 is the quota or a full disk: retrying cannot help, say so now.
      const transient = status === 0 || status === 408 || status === 423 || status === 429 ||
        (status >= 500 && status !== 507 && status !== 501)
      if (transient) {
        update(task.id, { error: t('reconnecting') })
        return true
      }
      return status === 409 && /offset/i.test(err.originalResponse.getBody() || '')
    },
    onSuccess() {
      live.delete(task.id)
      update(task.id, { state: 'done', sent: task.size, error: '', speed: 0, eta: 0 })
      landed.dispatchEvent(new CustomEvent('landed', { detail: task.folder }))
      pump()
    },
    onError(err) {
      update(task.id, { state: 'error', error: uploadError(err) })
      pump()
    },
  })
  entry.upload = upload
  try {
    const previous = await upload.findPreviousUploads()
    if (previous.length) upload.resumeFromPreviousUpload(previous[0])
  } catch { /* no storage: start afresh */ }
  upload.start()
}

function uploadError(err) {
  const res = err.originalResponse
  if (!res) return t('errorNetwork')
  try {
    const body = JSON.parse(res.getBody())
    if (body && body.error) return body.error.message
  } catch { /* not JSON */ }
  return `${t('failed')} (${res.getStatus()})`
}

function progress(id, sent, total) {
  const entry = live.get(id)
  if (!entry) return
  const now = performance.now()
  entry.samples.push([now, sent])
  while (entry.samples.length > 2 && now - entry.samples[0][0] > 5000) entry.samples.shift()
  const [t0, s0] = entry.samples[0]
  const speed = now > t0 ? ((sent - s0) * 1000) / (now - t0) : 0
  update(id, { sent, speed, eta: speed > 0 ? (total - sent) / speed : Infinity, error: '' })
}

export function pause(id) {
  const entry = live.get(id)
  if (entry && entry.upload) entry.upload.abort(false)
  update(id, { state: 'paused', speed: 0 })
  pump()
}
export function resume(id) {
  update(id, { state: 'queued' })
  pump()
}
export async function cancel(id) {
  const entry = live.get(id)
  live.delete(id)
  update(id, { state: 'canceled', speed: 0 })
  if (entry && entry.upload) {
    try { await entry.upload.abort(true) } catch { /* already gone */ }
  }
  pump()
}
export function retry(id) {
  const task = uploads.get().tasks.find((x) => x.id === id)
  if (!task || !live.has(id)) return
  update(id, { state: 'queued', error: '' })
  pump()
}
export function pauseAll() {
  for (const x of uploads.get().tasks) if (x.state === 'uploading' || x.state === 'queued') pause(x.id)
}
export function resumeAll() {
  for (const x of uploads.get().tasks) if (x.state === 'paused') resume(x.id)
}
export function clearFinished() {
  uploads.set((s) => ({
    ...s,
    tasks: s.tasks.filter((x) => !['done', 'canceled', 'skipped'].includes(x.state)),
  }))
}
export function setCollapsed(collapsed) { uploads.set((s) => ({ ...s, collapsed })) }

// -- what to upload: file inputs and drops (folders walked, nesting kept) -----

/** Files from an <input type=file> (webkitdirectory gives relative paths). */
export function fromInput(fileList) {
  return [...fileList].map((file) => ({ file, relPath: file.webkitRelativePath || file.name }))
}

/** Files (and empty folders) from a drop's DataTransfer, folders walked. */
export async function fromDrop(dataTransfer) {
  const items = [...(dataTransfer.items || [])]
  const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null))
  if (!entries.some(Boolean)) {
    return { files: [...dataTransfer.files].map((file) => ({ file, relPath: file.name })), folders: [] }
  }
  const files = []
  const folders = []
  async function walk(entry, prefix) {
    if (!entry) return
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject))
      files.push({ file, relPath: rel })
    } else if (entry.isDirectory) {
      folders.push(rel)
      const reader = entry.createReader()
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject))
        if (!batch.length) break
        for (const child of batch) await walk(child, rel)
      }
    }
  }
  for (const e of entries) await walk(e, '')
  return { files, folders }
}

/**
 * Plan uploads into folder: settle clashes with existing names (ask gets
 * {name, isFolder, others} and resolves 'keep'|'replace'|'merge'|'skip'
 * plus whether to apply it to all), make the folders, queue the files.
 */
export async function uploadInto(folder, { files, folders = [] }, existing, ask) {
  // Top-level names decide clashes; a dropped folder's insides follow its choice.
  const tops = new Map()
  for (const f of files) {
    const top = f.relPath.split('/')[0]
    if (!tops.has(top)) tops.set(top, { isFolder: f.relPath.includes('/') })
  }
  for (const d of folders) {
    const top = d.split('/')[0]
    if (!tops.has(top)) tops.set(top, { isFolder: true })
  }
  const taken = new Set(existing.keys())
  const rename = new Map()
  const replaceRev = new Map()
  const skip = new Set()
  let remembered = null
  const clashes = [...tops.keys()].filter((n) => existing.has(n))
  let left = clashes.length
  for (const name of clashes) {
    left--
    const isFolder = tops.get(name).isFolder
    const there = existing.get(name)
    let choice = remembered
    if (!choice) {
      const answer = await ask({ name, isFolder, folder, others: left })
      if (!answer) { skip.add(name); continue }
      choice = answer.choice
      if (answer.all) remembered = choice
    }
    if (choice === 'skip') skip.add(name)
    else if (choice === 'keep') {
      const fresh = freeName(name, taken)
      taken.add(fresh)
      rename.set(name, fresh)
    } else if (choice === 'replace' && !isFolder && there.kind === 'file') replaceRev.set(name, there.rev)
    else if (choice === 'replace' || choice === 'merge') {
      if (there.kind !== (isFolder ? 'folder' : 'file')) skip.add(name) // a file cannot become a folder
    }
  }
  const target = (rel) => {
    const parts = rel.split('/')
    if (rename.has(parts[0])) parts[0] = rename.get(parts[0])
    return parts
  }
  for (const d of folders) {
    if (skip.has(d.split('/')[0])) continue
    const path = target(d).reduce((acc, p) => joinPath(acc, p), folder)
    try { await api('POST', '/files/mkdir', { body: { path } }) } catch { /* there already */ }
  }
  const queue = []
  for (const f of files) {
    const top = f.relPath.split('/')[0]
    if (skip.has(top)) continue
    const parts = target(f.relPath)
    const name = parts.pop()
    const dir = parts.reduce((acc, p) => joinPath(acc, p), folder)
    // A top-level file: new (0) or replacing the revision seen; inside a
    // merged folder a same-named file becomes a new revision of it (null).
    let baseRev = null
    if (parts.length === 0) baseRev = replaceRev.has(top) ? replaceRev.get(top) : 0
    queue.push({ file: f.file, folder: dir, name, baseRev })
  }
  enqueue(queue)
  return queue.length
}
