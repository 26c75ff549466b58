// The details panel of a file: where it is, its size and dates, and its
// revisions (date, size, who, which device), each downloadable and
// restorable with a click (the old content becomes the newest revision),
// and its recent activity (activity.js). Of a folder: where it is, its size
// and what it holds at any depth (GET /files/folder_size, asked when the
// panel opens; the trash not counted), and its recent activity.

import { useEffect, useState } from 'preact/hooks'
import { ActivityList } from './activity.js'
import { api, describe, downloadUrl, startDownload } from './api.js'
import { Icon } from './icons.js'
import { t } from './strings.js'
import { openShare, SHARED_ROOT } from './share.js'
import { Modal, toast } from './ui.js'
import { formatDate, formatSize, html, parentOf } from './util.js'

export function Details({ entry, onClose, onChanged }) {
  return entry.kind === 'folder'
    ? html`<${FolderDetails} entry=${entry} onClose=${onClose} onChanged=${onChanged} />`
    : html`<${FileDetails} entry=${entry} onClose=${onClose} onChanged=${onChanged} />`
}

function FileDetails({ entry, onClose, onChanged }) {
  const [revisions, setRevisions] = useState(null)
  const [error, setError] = useState('')
  const [version, setVersion] = useState(0)
  useEffect(() => {
    const ctl = new AbortController()
    api('GET', '/files/list_revisions', { query: { path: entry.path, limit: 100 }, signal: ctl.signal })
      .then((r) => setRevisions(r.revisions))
      .catch((err) => { if (err.name !== 'AbortError') setError(describe(err)) })
    return () => ctl.abort()
  }, [entry.path, version])
  async function restore(rev) {
    try {
      await api('POST', '/files/restore', { body: { path: entry.path, rev } })
      toast(t('revisionRestored', rev))
      setVersion((v) => v + 1)
      onChanged()
    } catch (err) { toast(describe(err), { error: true }) }
  }
  const newest = revisions && revisions.length ? revisions[0].rev : null
  return html`<${Modal} title=${html`<bdi>${entry.name}</bdi>`} onClose=${onClose}>
    <div class="modal-body details">
      <dl class="facts">
        <dt>${t('location')}</dt><dd><bdi>${parentOf(entry.path)}</bdi></dd>
        <dt>${t('colSize')}</dt><dd>${formatSize(entry.size)}</dd>
        <dt>${t('colModified')}</dt><dd>${formatDate(entry.modified)}</dd>
      </dl>
      <p><button type="button" onClick=${() => { onClose(); openShare(entry, { onChanged }) }}>
        <${Icon} name="shared" /><span>${t('share')}</span></button></p>
      <h3>${t('revisions')}</h3>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      ${!revisions && !error && html`<p class="muted">${t('loading')}</p>`}
      ${revisions && !revisions.length && html`<p class="muted">${t('noRevisions')}</p>`}
      ${revisions && html`<ol class="revisions" aria-label=${t('revisions')}>
        ${revisions.map((r) => html`<li key=${r.rev} class="revision">
          <div>
            <strong>${t('revisionOf', r.rev)}</strong>${r.rev === newest ? html` <span class="badge">${t('current')}</span>` : ''}
            <div class="muted">${formatDate(r.modified)} · ${formatSize(r.size)}</div>
            <div class="muted"><bdi>${t('by', r.author, r.device)}</bdi></div>
          </div>
          <div class="revision-actions">
            <button type="button" class="icon-button" aria-label=${t('downloadRevision', r.rev)}
                    title=${t('downloadRevision', r.rev)}
                    onClick=${() => startDownload(downloadUrl(entry.path, r.rev))}><${Icon} name="download" /></button>
            ${r.rev !== newest && entry.role !== 'viewer' && html`<button type="button" onClick=${() => restore(r.rev)}
                    aria-label=${t('restoreRevision', r.rev)}>${t('restore')}</button>`}
          </div>
        </li>`)}
      </ol>`}
      <${ActivityList} path=${entry.path} version=${version} />
    </div>
  <//>`
}

function FolderDetails({ entry, onClose, onChanged }) {
  const [size, setSize] = useState(null)
  const [error, setError] = useState('')
  const [attempt, setAttempt] = useState(0)
  useEffect(() => {
    const ctl = new AbortController()
    setSize(null)
    setError('')
    api('GET', '/files/folder_size', { query: { path: entry.path }, signal: ctl.signal })
      .then(setSize)
      .catch((err) => { if (err.name !== 'AbortError') setError(describe(err)) })
    return () => ctl.abort()
  }, [entry.path, attempt])
  // /Shared with me is no folder of anyone's: nothing to share, no activity
  const virtual = entry.path === SHARED_ROOT
  return html`<${Modal} title=${html`<bdi>${entry.name}</bdi>`} onClose=${onClose}>
    <div class="modal-body details">
      <dl class="facts">
        <dt>${t('location')}</dt><dd><bdi>${parentOf(entry.path)}</bdi></dd>
        <dt>${t('colSize')}</dt>
        <dd class="folder-size" aria-busy=${!size && !error ? 'true' : 'false'}>
          ${size && t('folderSize', formatSize(size.size), size.files, size.folders)}
          ${!size && !error && html`<span class="muted">${t('folderSizeLoading')}</span>`}
          ${error && html`<span class="error" role="alert">${t('folderSizeFailed', error)}</span>
            <button type="button" onClick=${() => setAttempt((n) => n + 1)}>${t('retry')}</button>`}
        </dd>
        ${!virtual && html`<dt>${t('colModified')}</dt><dd>${formatDate(entry.modified)}</dd>`}
      </dl>
      ${!virtual && html`<p><button type="button" onClick=${() => { onClose(); openShare(entry, { onChanged }) }}>
        <${Icon} name="shared" /><span>${t('share')}</span></button></p>`}
      ${!virtual && html`<${ActivityList} path=${entry.path} version=${0} />`}
    </div>
  <//>`
}
