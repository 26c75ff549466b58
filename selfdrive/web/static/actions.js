// What the file browser does to entries, through the public API: new
// folder, rename, move and copy (with a folder picker), delete with undo,
// downloads (a file, or a selection as one streamed zip).

import { useEffect, useState } from 'preact/hooks'
import { api, describe, downloadUrl, listFolder, startDownload, zipUrl } from './api.js'
import { Icon } from './icons.js'
import { t } from './strings.js'
import { checkName, Modal, openDialog, prompt, toast } from './ui.js'
import { baseName, collator, freeName, html, joinPath, parentOf } from './util.js'

async function each(items, run) {
  let ok = 0
  for (const item of items) {
    try { await run(item); ok++ } catch (err) { toast(`${baseName(item.path)}: ${describe(err)}`, { error: true }) }
  }
  return ok
}

export async function newFolder(folder, existingNames) {
  const name = await prompt({
    title: t('newFolder'), label: t('newFolderName'), action: t('create'),
    initial: freeName(t('newFolderDefault'), existingNames), validate: checkName,
  })
  if (!name) return false
  try {
    await api('POST', '/files/mkdir', { body: { path: joinPath(folder, name) } })
    toast(t('created'))
    return true
  } catch (err) { toast(describe(err), { error: true }); return false }
}

export async function rename(entry, newName) {
  if (!newName || newName === entry.name) return false
  const problem = checkName(newName)
  if (problem) { toast(problem, { error: true }); return false }
  try {
    await api('POST', '/files/move', {
      body: { from_path: entry.path, to_path: joinPath(parentOf(entry.path), newName) },
    })
    toast(t('renamed'))
    return true
  } catch (err) { toast(describe(err), { error: true }); return false }
}

export async function moveOrCopy(entries, dest, copy) {
  const targets = entries.filter((e) => parentOf(e.path) !== dest || copy)
  const ok = await each(targets, async (e) => {
    if (!copy && (dest === e.path || dest.startsWith(e.path + '/'))) throw new Error('into itself')
    await api('POST', copy ? '/files/copy' : '/files/move',
      { body: { from_path: e.path, to_path: joinPath(dest, e.name) } })
  })
  if (ok) toast(copy ? t('copied', ok) : t('moved', ok))
  return ok
}

export async function pickAndMove(entries, copy, start) {
  const dest = await pickFolder(copy ? t('copyTo') : t('moveTo'), start, copy ? t('copyHere') : t('moveHere'))
  if (dest === null) return 0
  return moveOrCopy(entries, dest, copy)
}

/** Move entries to the trash; the toast's Undo puts them back. */
export async function remove(entries, after) {
  const gone = []
  await each(entries, async (e) => {
    await api('POST', '/files/delete', { body: { path: e.path } })
    gone.push(e.path)
  })
  if (!gone.length) return
  after()
  toast(t('movedToTrash', gone.length), {
    ms: 10000,
    action: { label: t('undo'), run: () => undoDelete(gone).then(after) },
  })
}

async function undoDelete(paths) {
  const { entries } = await api('GET', '/trash')
  const newest = new Map()
  for (const e of entries) {
    if (!paths.includes(e.path)) continue
    const seen = newest.get(e.path)
    if (!seen || e.deleted_at > seen.deleted_at) newest.set(e.path, e)
  }
  const ok = await each([...newest.values()], (e) => api('POST', '/trash/restore', { body: { id: e.id } }))
  if (ok) toast(t('restored', ok))
}

export function download(entries, folder) {
  if (entries.length === 1 && entries[0].kind === 'file') {
    startDownload(downloadUrl(entries[0].path))
    return
  }
  const parents = new Set(entries.map((e) => parentOf(e.path)))
  if (parents.size === 1) {
    startDownload(zipUrl([...parents][0], entries.map((e) => e.name)))
  } else if (!entries.length) {
    startDownload(zipUrl(folder))
  } else {
    for (const e of entries) startDownload(e.kind === 'file' ? downloadUrl(e.path) : zipUrl(e.path))
  }
}

// -- the folder picker ------------------------------------------------------

function FolderPicker({ title, start, action, close }) {
  const [path, setPath] = useState(start)
  const [folders, setFolders] = useState(null)
  const [error, setError] = useState('')
  useEffect(() => {
    const ctl = new AbortController()
    setFolders(null)
    listFolder(path, { signal: ctl.signal })
      .then(({ entries }) => setFolders(entries.filter((e) => e.kind === 'folder')
        .sort((a, b) => collator.compare(a.name, b.name))))
      .catch((err) => { if (err.name !== 'AbortError') setError(describe(err)) })
    return () => ctl.abort()
  }, [path])
  return html`<${Modal} title=${t('pickFolder', title)} onClose=${() => close(null)}>
    <div class="modal-body picker">
      <div class="picker-head">
        <button type="button" class="icon-button" disabled=${path === '/'} aria-label=${t('up')}
                title=${t('up')} onClick=${() => setPath(parentOf(path))}><${Icon} name="up" /></button>
        <span class="picker-path"><bdi>${path === '/' ? t('home') : path}</bdi></span>
      </div>
      <ul class="picker-list" aria-label=${t('files')}>
        ${folders === null && !error && html`<li class="muted">${t('loading')}</li>`}
        ${error && html`<li class="error">${error}</li>`}
        ${folders && folders.map((f) => html`<li key=${f.path}>
          <button type="button" class="picker-item" onClick=${() => setPath(f.path)}>
            <${Icon} name="folder" /><bdi>${f.name}</bdi></button></li>`)}
      </ul>
      <div class="modal-actions">
        <button type="button" onClick=${() => close(null)}>${t('cancel')}</button>
        <button type="button" class="primary" onClick=${() => close(path)}>${action}</button>
      </div>
    </div>
  <//>`
}

export function pickFolder(title, start, action) {
  return openDialog((close) => html`<${FolderPicker} title=${title} start=${start}
    action=${action} close=${close} />`)
}

// -- the name clash question ------------------------------------------------

function ClashDialog({ name, isFolder, folder, others, close }) {
  const [all, setAll] = useState(false)
  const answer = (choice) => close({ choice, all })
  return html`<${Modal} title=${t('clashTitle')} onClose=${() => close({ choice: 'skip', all })}>
    <div class="modal-body">
      <p><bdi>${isFolder ? t('clashFolderText', name, folder) : t('clashText', name, folder)}</bdi></p>
      ${others > 0 && html`<label class="check"><input type="checkbox" checked=${all}
        onChange=${(e) => setAll(e.target.checked)} /> ${t('applyToAll', others)}</label>`}
      <div class="modal-actions">
        <button type="button" onClick=${() => answer('skip')}>${t('skip')}</button>
        <button type="button" onClick=${() => answer(isFolder ? 'merge' : 'replace')}>
          ${isFolder ? t('merge') : t('replace')}</button>
        <button type="button" class="primary" autofocus onClick=${() => answer('keep')}>${t('keepBoth')}</button>
      </div>
    </div>
  <//>`
}

export function askClash(question) {
  return openDialog((close) => html`<${ClashDialog} ...${question} close=${close} />`)
}

// -- keyboard help -----------------------------------------------------------

export function showShortcuts() {
  return openDialog((close) => html`<${Modal} title=${t('shortcuts')} onClose=${() => close()}>
    <div class="modal-body">
      <table class="keys"><tbody>
        ${t('keys').map(([k, what]) => html`<tr key=${k}><th scope="row"><kbd>${k}</kbd></th><td>${what}</td></tr>`)}
      </tbody></table>
      <div class="modal-actions"><button type="button" class="primary" onClick=${() => close()}>${t('ok')}</button></div>
    </div>
  <//>`)
}
