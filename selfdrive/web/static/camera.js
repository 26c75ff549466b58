// The camera-upload page (/camera): a phone picks photos and videos (or takes
// one) and they upload through the upload manager (uploads.js: tus,
// resumable, progress in the panel) while the page stays open. A file
// already uploaded is skipped: the page remembers the name, size and date of
// every file it uploaded (localStorage, per user and folder), and a file of
// the same name and size already in the folder counts as uploaded too (it
// came from another phone, or before the browser's storage was cleared).

import { useEffect, useRef, useState } from 'preact/hooks'
import { pickFolder } from './actions.js'
import { api, ApiError, describe, listFolder } from './api.js'
import { Icon } from './icons.js'
import { t } from './strings.js'
import { toast, useStore } from './ui.js'
import { enqueue, uploads } from './uploads.js'
import { freeName, html } from './util.js'

const DEFAULT_FOLDER = '/Camera uploads'
/** files remembered per folder: a phone's camera roll of a few years */
const REMEMBERED = 20000

const storageKey = (user) => `selfdrive:camera:${user}`
function loadState(user) {
  try { return JSON.parse(localStorage.getItem(storageKey(user))) || {} } catch { return {} }
}
function saveState(user, change) {
  try { localStorage.setItem(storageKey(user), JSON.stringify({ ...loadState(user), ...change })) } catch { /* full or off */ }
}
function uploadedIn(user, folder) {
  return new Set((loadState(user).uploaded || {})[folder] || [])
}
function remember(user, folder, key) {
  const uploaded = loadState(user).uploaded || {}
  uploaded[folder] = [...(uploaded[folder] || []).filter((k) => k !== key), key].slice(-REMEMBERED)
  saveState(user, { uploaded })
}
const fileKey = (file) => [file.name, file.size, file.lastModified].join('\u0000')

/** The folder's entries by name; the folder is made if it is missing. */
async function entriesOf(folder) {
  try {
    const { entries } = await listFolder(folder, {})
    return new Map(entries.map((e) => [e.name, e]))
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'not_found') throw err
    await api('POST', '/files/mkdir', { body: { path: folder } })
    return new Map()
  }
}

export function CameraPage({ me }) {
  const user = me.username
  const [folder, setFolder] = useState(() => loadState(user).folder || DEFAULT_FOLDER)
  const [mine, setMine] = useState({ ids: [], skipped: 0 })
  const [busy, setBusy] = useState(false)
  const { tasks } = useStore(uploads)
  const inFlight = useRef(new Map()) // task id -> {folder, key}
  const counts = count(tasks, mine.ids)

  // A file counts as uploaded once the server has all of it.
  useEffect(() => {
    for (const task of tasks) {
      const sent = inFlight.current.get(task.id)
      if (sent && task.state === 'done') {
        remember(user, sent.folder, sent.key)
        inFlight.current.delete(task.id)
      }
    }
  }, [tasks, user])
  useWakeLock(counts.pending > 0)

  async function change() {
    const picked = await pickFolder(t('uploadTo'), '/', t('chooseHere'))
    if (picked === null) return
    setFolder(picked)
    saveState(user, { folder: picked })
  }

  async function upload(fileList, input) {
    const files = [...fileList]
    input.value = '' // the same files may be picked again
    if (!files.length) return
    setBusy(true)
    try {
      const there = await entriesOf(folder)
      const uploaded = uploadedIn(user, folder)
      const going = new Set([...inFlight.current.values()]
        .filter((x) => x.folder === folder).map((x) => x.key))
      const taken = new Set(there.keys())
      const queue = []
      let skipped = 0
      for (const file of files) {
        const key = fileKey(file)
        const same = there.get(file.name)
        if (uploaded.has(key) || going.has(key) ||
            (same && same.kind === 'file' && same.size === file.size)) {
          skipped++
          continue
        }
        going.add(key)
        const name = freeName(file.name, taken)
        taken.add(name)
        queue.push({ file, folder, name, baseRev: 0, key })
      }
      const ids = queue.length ? enqueue(queue) : []
      ids.forEach((id, i) => inFlight.current.set(id, { folder, key: queue[i].key }))
      setMine((m) => ({ ids: [...m.ids, ...ids], skipped: m.skipped + skipped }))
    } catch (err) {
      toast(describe(err), { error: true })
    } finally {
      setBusy(false)
    }
  }

  const picked = mine.ids.length + mine.skipped > 0
  return html`<section class="page camera-page" aria-labelledby="camera-title" data-loaded="true">
    <h1 id="camera-title">${t('camera')}</h1>
    <p class="muted">${t('cameraIntro')}</p>
    <p class="destination">${t('uploadTo')} <strong><bdi>${folder}</bdi></strong>
      <button type="button" onClick=${change} disabled=${busy}>${t('changeFolder')}</button></p>
    <div class="camera-actions">
      <label class="button primary big-button">
        <${Icon} name="image" /><span>${t('choosePhotos')}</span>
        <input type="file" class="visually-hidden" accept="image/*,video/*" multiple disabled=${busy}
               onChange=${(e) => upload(e.currentTarget.files, e.currentTarget)} /></label>
      <label class="button big-button">
        <${Icon} name="camera" /><span>${t('takePhoto')}</span>
        <input type="file" class="visually-hidden" accept="image/*,video/*" capture="environment"
               disabled=${busy} onChange=${(e) => upload(e.currentTarget.files, e.currentTarget)} /></label>
    </div>
    <p class="camera-counts" role="status" aria-live="polite">
      ${picked && html`<span class="count-done">${t('cameraDone', counts.done)}</span>
        <span class="count-pending">${t('cameraPending', counts.pending)}</span>
        <span class="count-skipped">${t('cameraSkipped', mine.skipped)}</span>
        ${counts.failed > 0 && html`<span class="count-failed error">${t('cameraFailed', counts.failed)}</span>`}`}
    </p>
    ${picked && html`<p class="muted">${counts.pending ? t('cameraKeepOpen') : t('cameraAllDone')}</p>`}
  </section>`
}

function count(tasks, ids) {
  const wanted = new Set(ids)
  const c = { done: 0, pending: 0, failed: 0 }
  for (const task of tasks) {
    if (!wanted.has(task.id)) continue
    if (task.state === 'done') c.done++
    else if (task.state === 'error' || task.state === 'canceled') c.failed++
    else c.pending++
  }
  // tasks cleared from the panel were finished: count them as done
  c.done += ids.length - (c.done + c.pending + c.failed)
  return c
}

/** Keep the screen on while uploads run (where the browser can): a phone
 * that sleeps stops the page, and the uploads with it. */
function useWakeLock(wanted) {
  useEffect(() => {
    if (!wanted || !navigator.wakeLock) return
    let lock = null
    let dropped = false
    navigator.wakeLock.request('screen').then((l) => { if (dropped) l.release(); else lock = l })
      .catch(() => { /* refused: the uploads go on while the screen is on */ })
    return () => { dropped = true; if (lock) lock.release().catch(() => {}) }
  }, [wanted])
}
