// The notification bell: the unread count, and a panel that lists what others
// shared with me or did to what I see through a share (GET /notifications,
// bursts already coalesced by the server with a count), marks them read and
// opens the item.
//
// The count stays live without a polling loop of its own: a notification is
// written in the same transaction as a journal row for the same user, so the
// tab's one long poll (live.js) rings for it. When a page of the feed holds a
// change made by someone else (nobody is told of their own doing), the count
// is asked again, once, however many such changes the page holds.

import { useEffect, useRef, useState } from 'preact/hooks'
import { api, describe } from './api.js'
import { Icon } from './icons.js'
import { feed } from './live.js'
import { t } from './strings.js'
import { createStore, toast, useStore } from './ui.js'
import { baseName, classes, filesUrl, formatDate, html, navigate, parentOf } from './util.js'

const PAGE = 50

/** {unread, items: null until the panel has first been filled} */
const state = createStore({ unread: 0, items: null })

let asking = null
let again = false
let wantList = false // once the panel has opened, a refresh brings the list too

/** Ask the server for the count (and the list, once it has been shown);
 *  calls made while one is in flight fold into a single next one. */
function refresh() {
  if (asking) { again = true; return asking }
  const withList = wantList
  asking = api('GET', '/notifications', { query: { limit: withList ? PAGE : 1 }, quiet401: true })
    .then((r) => state.set((s) => ({ unread: r.unread, items: withList ? r.notifications : s.items })))
    .catch(() => {}) // the next ring asks again
    .finally(() => {
      asking = null
      if (again) { again = false; refresh() }
    })
  return asking
}

async function markRead(body) {
  try {
    await api('POST', '/notifications/read', { body })
  } catch (err) {
    toast(describe(err), { error: true })
  }
  await refresh()
}

/** "Anna shared Holidays with you", "Ben edited budget.xlsx (12 times)" */
export function describeNotification(n) {
  return t('notification', n.kind, n.by || t('someone'), baseName(n.path), n.count)
}

/** Go to the item: a folder is opened, a file previewed in its folder, and
 *  something gone shows the folder it was in. */
async function openItem(path) {
  try {
    const entry = await api('GET', '/files/metadata', { query: { path } })
    if (entry.kind === 'folder') navigate(filesUrl(entry.path))
    else navigate(filesUrl(parentOf(entry.path), { preview: entry.name }))
  } catch (err) {
    if (err.status !== 404) { toast(describe(err), { error: true }); return }
    toast(t('errorNotFound'))
    navigate(filesUrl(parentOf(path)))
  }
}

export function Bell({ me }) {
  const { unread } = useStore(state)
  const [open, setOpen] = useState(false)
  const button = useRef(null)
  useEffect(() => {
    refresh()
    const onChanges = (e) => { if (e.detail.some((c) => c.by && c.by !== me.username)) refresh() }
    feed.addEventListener('changes', onChanges)
    return () => feed.removeEventListener('changes', onChanges)
  }, [me.username])
  const close = () => { setOpen(false); if (button.current) button.current.focus() }
  return html`<div class="bell">
    <button type="button" ref=${button} class=${classes('nav-link', 'bell-button', open && 'active')}
            aria-haspopup="dialog" aria-expanded=${open ? 'true' : 'false'} aria-controls="notifications"
            onClick=${() => (open ? close() : setOpen(true))}>
      <${Icon} name="bell" /><span>${t('notifications')}</span>
      ${unread > 0 && html`<span class="count-badge"><span class="count">${unread > 99 ? '99+' : unread}</span><span
        class="visually-hidden"> ${t('unread')}</span></span>`}
    </button>
    ${open && html`<${Panel} onClose=${close} />`}
  </div>`
}

function Panel({ onClose }) {
  const { unread, items } = useStore(state)
  const ref = useRef(null)
  useEffect(() => {
    wantList = true
    refresh()
    const first = ref.current.querySelector('button')
    if (first) first.focus()
    const onDown = (e) => {
      if (ref.current && !ref.current.contains(e.target) && !e.target.closest('.bell-button')) onClose()
    }
    document.addEventListener('mousedown', onDown)
    return () => document.removeEventListener('mousedown', onDown)
  }, [])
  function onKeyDown(e) {
    if (e.key === 'Escape') { e.stopPropagation(); e.preventDefault(); onClose() }
  }
  async function openOne(n) {
    onClose()
    if (!n.read) markRead({ ids: [n.id] })
    await openItem(n.path)
  }
  return html`<section id="notifications" class="notif-panel" role="dialog" aria-labelledby="notif-title"
      ref=${ref} onKeyDown=${onKeyDown}>
    <header class="notif-head">
      <h2 id="notif-title">${t('notifications')}</h2>
      <button type="button" class="link" disabled=${unread === 0}
              onClick=${() => markRead({ all: true })}>${t('markAllRead')}</button>
      <button type="button" class="icon-button" aria-label=${t('close')} title=${t('close')}
              onClick=${onClose}><${Icon} name="close" /></button>
    </header>
    ${items === null
      ? html`<p class="muted notif-empty">${t('loading')}</p>`
      : items.length === 0
        ? html`<p class="muted notif-empty">${t('noNotifications')}</p>`
        : html`<ul class="notif-list" aria-label=${t('notifications')}>
          ${items.map((n) => html`<li key=${n.id} class=${classes('notif', !n.read && 'unread')}>
            <button type="button" class="notif-open" onClick=${() => openOne(n)}>
              <${Icon} name=${ICON_OF[n.kind] || 'info'} />
              <span class="notif-text">
                <bdi>${describeNotification(n)}</bdi>
                <span class="muted notif-when">${formatDate(n.updated_at)}${n.read ? '' : ` · ${t('unread')}`}</span>
              </span>
            </button>
            ${!n.read && html`<button type="button" class="icon-button" title=${t('markRead')}
                aria-label=${t('markReadOf', describeNotification(n))}
                onClick=${() => markRead({ ids: [n.id] })}><${Icon} name="check" /></button>`}
          </li>`)}
        </ul>`}
  </section>`
}

const ICON_OF = {
  shared: 'shared', added: 'upload', edited: 'rename', deleted: 'trash', restored: 'retry', moved: 'move',
}
