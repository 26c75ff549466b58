// The share dialog: who has access to a file or folder (its owner, the
// people it is shared with, its public links), adding people by username
// with suggestions as one types (GET /users), changing a role, removing
// someone, leaving a share; and public links: made with a password, an
// expiry date, a download limit or as a file drop, copied with one click,
// shown as a QR code (drawn as SVG elements, no markup strings), revoked.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { encode } from 'uqr'
import { api, describe } from './api.js'
import { Icon } from './icons.js'
import { t } from './strings.js'
import { confirm, Modal, openDialog, toast } from './ui.js'
import { formatDate, html } from './util.js'

export const SHARED_ROOT = '/Shared with me'

/** Where a path is: the caller's own tree, or (inside) a share. */
export function inShare(path) { return path === SHARED_ROOT || path.startsWith(SHARED_ROOT + '/') }

/** A link's full address, for copying and for the QR code (the API gives /s/<token>). */
export function linkUrl(link) { return new URL(link.url, location.origin).href }

/**
 * Copy text to the clipboard: the Clipboard API where the page may use it
 * (HTTPS or localhost), else a selected textarea and execCommand, which
 * still works on a NAS reached over plain HTTP.
 */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text)
      return true
    }
  } catch { /* refused: try the old way */ }
  const before = document.activeElement
  const area = document.createElement('textarea')
  area.value = text
  area.readOnly = true
  area.className = 'offscreen'
  area.setAttribute('aria-hidden', 'true')
  document.body.append(area)
  area.select()
  let ok = false
  try { ok = document.execCommand('copy') } catch { ok = false }
  area.remove()
  if (before && before.focus) before.focus()
  return ok
}

export async function copyLink(link) {
  if (await copyText(linkUrl(link))) toast(t('linkCopied'))
  else toast(t('copyFailed'), { error: true })
}

/** A QR code of text, as SVG elements: the CSP allows no markup strings. */
export function QrCode({ text, label }) {
  const qr = useMemo(() => encode(text, { ecc: 'M', border: 4 }), [text])
  let d = ''
  qr.data.forEach((row, y) => row.forEach((on, x) => { if (on) d += `M${x} ${y}h1v1h-1z` }))
  return html`<svg class="qr" viewBox=${`0 0 ${qr.size} ${qr.size}`} role="img" aria-label=${label}
      shape-rendering="crispEdges" data-text=${text}>
    <rect width=${qr.size} height=${qr.size} fill="#fff" /><path d=${d} fill="#000" /></svg>`
}

export function linkState(link) {
  return t(`linkState_${link.state}`)
}

/** Facts of a link in a line: file drop, password, downloads, expiry. */
export function linkFacts(link) {
  const facts = []
  if (link.allow_upload) facts.push(t('fileDrop'))
  if (link.has_password) facts.push(t('withPassword'))
  if (!link.allow_upload) {
    facts.push(link.max_downloads ? t('downloadsOf', link.downloads, link.max_downloads)
      : t('downloadsCount', link.downloads))
  }
  if (link.expires_at) facts.push(t('expiresOn', formatDate(link.expires_at)))
  return facts.join(' · ')
}

/**
 * Open the share dialog for an entry; entry.role and entry.owner say what
 * the caller may do (the listing tells them). Resolves when it closes.
 */
export function openShare(entry, { onChanged } = {}) {
  return openDialog((close) => html`<${ShareDialog} entry=${entry}
    close=${() => close()} onChanged=${onChanged || (() => {})} />`)
}

function ShareDialog({ entry, close, onChanged }) {
  const mine = entry.role ? entry.role === 'owner' : !inShare(entry.path)
  const mountPath = inShare(entry.path) ? entry.path.split('/').slice(0, 3).join('/') : null
  const canLink = entry.path !== SHARED_ROOT && (mine || entry.role === 'editor')
  const [shares, setShares] = useState(null)
  const [received, setReceived] = useState(null)
  const [links, setLinks] = useState(null)
  const [error, setError] = useState('')
  const [version, setVersion] = useState(0)
  const changed = () => { setVersion((v) => v + 1); onChanged() }

  useEffect(() => {
    const ctl = new AbortController()
    const fail = (err) => { if (err.name !== 'AbortError') setError(describe(err)) }
    api('GET', '/shares', { signal: ctl.signal }).then((r) => {
      setShares(r.shared_by_me.filter((s) => s.path === entry.path))
      setReceived(r.shared_with_me.find((s) => s.path === mountPath) || null)
    }).catch(fail)
    if (canLink) {
      api('GET', '/links', { signal: ctl.signal })
        .then((r) => setLinks(r.links.filter((l) => l.path === entry.path).sort((a, b) => b.created_at - a.created_at)))
        .catch(fail)
    }
    return () => ctl.abort()
  }, [entry.path, version])

  const owner = mine ? t('you') : (entry.owner || (received && received.owner) || '')
  const liveLinks = links ? links.filter((l) => l.state === 'active').length : 0
  return html`<${Modal} title=${html`${t('shareTitle')} <bdi>${entry.name}</bdi>`} onClose=${close}>
    <div class="modal-body share-dialog">
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <p class="access-summary" data-testid="access-summary">
        <${Icon} name="shared" />
        <span>${t('accessSummary', owner, shares ? shares.length : 0, liveLinks, mine)}</span>
      </p>
      <section aria-labelledby="share-people">
        <h3 id="share-people">${t('peopleWithAccess')}</h3>
        <ul class="people" aria-labelledby="share-people">
          <li class="person"><${Icon} name="account" />
            <span class="who"><bdi>${owner}</bdi></span><span class="muted">${t('roleOwner')}</span></li>
          ${!mine && entry.role && html`<li class="person"><${Icon} name="account" />
            <span class="who">${t('you')}</span><span class="muted">${t(`role_${entry.role}`)}</span></li>`}
          ${mine && shares && shares.map((s) => html`<${PersonRow} key=${s.id} share=${s} onChanged=${changed} />`)}
        </ul>
        ${mine && html`<${AddPerson} entry=${entry} taken=${new Set((shares || []).map((s) => s.user))} onAdded=${changed} />`}
        ${!mine && html`<p class="muted">${t('onlyOwnerShares')}</p>`}
        ${received && entry.path === mountPath && html`<p><button type="button" class="danger"
          onClick=${() => leave(received, close, onChanged)}>${t('leaveShare')}</button></p>`}
      </section>
      ${canLink && html`<section aria-labelledby="share-links">
        <h3 id="share-links">${t('publicLinks')}</h3>
        ${links === null && !error && html`<p class="muted">${t('loading')}</p>`}
        ${links && links.length === 0 && html`<p class="muted">${t('noLinksYet')}</p>`}
        ${links && html`<ul class="links">
          ${links.map((l, i) => html`<${LinkRow} key=${l.id} link=${l} qr=${i === 0 && l.fresh} onChanged=${changed} />`)}
        </ul>`}
        <${NewLink} entry=${entry} onCreated=${(link) => {
          setLinks((list) => [{ ...link, fresh: true }, ...(list || [])])
          onChanged()
        }} />
      </section>`}
      <div class="modal-actions">
        <button type="button" class="primary" onClick=${close}>${t('done')}</button>
      </div>
    </div>
  <//>`
}

async function leave(share, close, onChanged) {
  if (!(await confirm({ title: t('leaveShare'), text: t('confirmLeave', share.path.split('/').pop(), share.owner),
    action: t('leaveShare'), danger: true }))) return
  try {
    await api('DELETE', `/shares/${share.id}`)
    toast(t('leftShare'))
    close()
    onChanged()
  } catch (err) { toast(describe(err), { error: true }) }
}

function RoleSelect({ value, onChange, label, id }) {
  return html`<select id=${id} aria-label=${label} value=${value} onChange=${(e) => onChange(e.target.value)}>
    <option value="viewer">${t('role_viewer')}</option>
    <option value="editor">${t('role_editor')}</option>
  </select>`
}

function PersonRow({ share, onChanged }) {
  async function setRole(role) {
    try {
      await api('PATCH', `/shares/${share.id}`, { body: { role } })
      toast(t('roleChanged', share.user, t(`role_${role}`)))
      onChanged()
    } catch (err) { toast(describe(err), { error: true }) }
  }
  async function remove() {
    try {
      await api('DELETE', `/shares/${share.id}`)
      toast(t('accessRemoved', share.user))
      onChanged()
    } catch (err) { toast(describe(err), { error: true }) }
  }
  return html`<li class="person" data-user=${share.user}><${Icon} name="account" />
    <span class="who"><bdi>${share.user}</bdi></span>
    <${RoleSelect} value=${share.role} onChange=${setRole} label=${t('roleOf', share.user)} />
    <button type="button" class="icon-button" aria-label=${t('removeAccess', share.user)}
            title=${t('removeAccess', share.user)} onClick=${remove}><${Icon} name="close" /></button>
  </li>`
}

/** The username field with suggestions as one types (a combobox). */
function AddPerson({ entry, taken, onAdded }) {
  const [name, setName] = useState('')
  const [role, setRole] = useState('viewer')
  const [found, setFound] = useState([])
  const [active, setActive] = useState(-1)
  const [open, setOpen] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')
  const asked = useRef(0)

  useEffect(() => {
    const q = name.trim()
    if (!q) { setFound([]); return }
    const n = ++asked.current
    const timer = setTimeout(() => {
      api('GET', '/users', { query: { q, limit: 10 } })
        .then((r) => {
          if (n !== asked.current) return
          setFound(r.users.map((u) => u.username).filter((u) => !taken.has(u)))
          setActive(-1)
        }).catch(() => {})
    }, 120)
    return () => clearTimeout(timer)
  }, [name])

  async function add(user) {
    const who = (user || name).trim()
    if (!who) return
    setBusy(true)
    setError('')
    try {
      await api('POST', '/shares', { body: { path: entry.path, user: who, role } })
      toast(t('sharedWith', who))
      setName('')
      setFound([])
      setOpen(false)
      onAdded()
    } catch (err) {
      setError(err.code === 'not_found' ? t('noSuchUser', who) : describe(err))
    } finally { setBusy(false) }
  }
  function onKeyDown(e) {
    const shown = open && found.length > 0
    if (e.key === 'ArrowDown' && shown) { setActive((a) => (a + 1) % found.length); e.preventDefault() }
    else if (e.key === 'ArrowUp' && shown) { setActive((a) => (a <= 0 ? found.length - 1 : a - 1)); e.preventDefault() }
    else if (e.key === 'Enter') {
      e.preventDefault()
      if (shown && active >= 0) { setName(found[active]); setOpen(false) } else add()
    } else if (e.key === 'Escape' && shown) { setOpen(false); e.preventDefault(); e.stopPropagation() }
  }
  const expanded = open && found.length > 0
  return html`<form class="add-person" onSubmit=${(e) => { e.preventDefault(); add() }}>
    <div class="combo">
      <label for="share-user" class="visually-hidden">${t('addPeopleLabel')}</label>
      <input id="share-user" type="text" value=${name} autocomplete="off" autocapitalize="none" spellcheck=${false}
             placeholder=${t('addPeople')} role="combobox" aria-autocomplete="list"
             aria-expanded=${expanded ? 'true' : 'false'} aria-controls="share-suggestions"
             aria-activedescendant=${expanded && active >= 0 ? `share-suggestion-${active}` : undefined}
             aria-describedby="share-user-error"
             onInput=${(e) => { setName(e.target.value); setOpen(true); setError('') }}
             onKeyDown=${onKeyDown} onBlur=${() => setTimeout(() => setOpen(false), 150)} />
      <ul id="share-suggestions" role="listbox" aria-label=${t('suggestions')} class="suggestions" hidden=${!expanded}>
        ${found.map((u, i) => html`<li key=${u} id=${`share-suggestion-${i}`} role="option"
            aria-selected=${i === active ? 'true' : 'false'} class=${i === active ? 'active' : ''}
            onMouseDown=${(e) => { e.preventDefault(); setName(u); setOpen(false) }}><bdi>${u}</bdi></li>`)}
      </ul>
    </div>
    <${RoleSelect} value=${role} onChange=${setRole} label=${t('newPersonRole')} />
    <button type="submit" class="primary" disabled=${busy || !name.trim()}>${t('share')}</button>
    <p id="share-user-error" class="error" role="alert">${error}</p>
  </form>`
}

function LinkRow({ link, qr, onChanged }) {
  const [showQr, setShowQr] = useState(Boolean(qr))
  const url = linkUrl(link)
  async function revoke() {
    try {
      await api('DELETE', `/links/${link.id}`)
      toast(t('linkRevoked'))
      onChanged()
    } catch (err) { toast(describe(err), { error: true }) }
  }
  return html`<li class="link-row" data-link=${link.id}>
    <div class="link-line">
      <${Icon} name="link" />
      <input type="text" readonly value=${url} aria-label=${t('linkAddress')} class="link-url"
             onFocus=${(e) => e.target.select()} />
      <button type="button" onClick=${() => copyLink(link)}><${Icon} name="copy" /><span>${t('copyLink')}</span></button>
      <button type="button" class="icon-button" aria-pressed=${showQr ? 'true' : 'false'}
              aria-label=${t('showQr')} title=${t('showQr')} onClick=${() => setShowQr(!showQr)}><${Icon} name="qr" /></button>
      <button type="button" class="icon-button danger" aria-label=${t('revokeLink')} title=${t('revokeLink')}
              onClick=${revoke}><${Icon} name="trash" /></button>
    </div>
    <div class="muted link-facts"><span class=${`state state-${link.state}`}>${linkState(link)}</span> · ${linkFacts(link)}</div>
    ${showQr && html`<div class="qr-box"><${QrCode} text=${url} label=${t('qrOf', url)} /></div>`}
  </li>`
}

function NewLink({ entry, onCreated }) {
  const folder = entry.kind === 'folder'
  const [usePassword, setUsePassword] = useState(false)
  const [password, setPassword] = useState('')
  const [expires, setExpires] = useState('')
  const [limit, setLimit] = useState('')
  const [drop, setDrop] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')
  const today = new Date()
  const min = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}`
  async function create(e) {
    e.preventDefault()
    const body = { path: entry.path }
    if (usePassword) {
      if (password.length < 8) { setError(t('passwordTooShort')); return }
      body.password = password
    }
    if (expires) {
      // the link works until the end of the chosen day, here
      const [y, m, d] = expires.split('-').map(Number)
      body.expires_at = new Date(y, m - 1, d + 1).getTime() - 1
      if (body.expires_at <= Date.now()) { setError(t('expiryPast')); return }
    }
    if (drop && folder) body.allow_upload = true
    else if (limit) body.max_downloads = Number(limit)
    setBusy(true)
    setError('')
    try {
      const link = await api('POST', '/links', { body })
      onCreated(link)
      const copied = await copyText(linkUrl(link))
      toast(copied ? t('linkCreatedCopied') : t('linkCreated'))
      setPassword(''); setUsePassword(false); setExpires(''); setLimit(''); setDrop(false)
    } catch (err) { setError(describe(err)) } finally { setBusy(false) }
  }
  return html`<form onSubmit=${create} class="new-link">
    <details>
      <summary>${t('linkOptions')}</summary>
      <div class="new-link-options">
        <label class="check"><input type="checkbox" checked=${usePassword}
          onChange=${(e) => setUsePassword(e.target.checked)} /> ${t('linkPassword')}</label>
        ${usePassword && html`<label class="field"><span>${t('password')}</span>
          <input type="password" value=${password} autocomplete="new-password"
                 onInput=${(e) => setPassword(e.target.value)} /></label>`}
        <label class="field"><span>${t('linkExpires')}</span>
          <input type="date" value=${expires} min=${min} onInput=${(e) => setExpires(e.target.value)} /></label>
        ${!(drop && folder) && html`<label class="field"><span>${t('linkLimit')}</span>
          <input type="number" min="1" step="1" inputmode="numeric" value=${limit} placeholder=${t('noLimit')}
                 onInput=${(e) => setLimit(e.target.value)} /></label>`}
        ${folder && html`<label class="check"><input type="checkbox" checked=${drop}
          onChange=${(e) => setDrop(e.target.checked)} /> ${t('fileDropOption')}</label>`}
      </div>
    </details>
    <p class="error" role="alert">${error}</p>
    <button type="submit" class="primary" disabled=${busy}><${Icon} name="link" /><span>${t('createLink')}</span></button>
  </form>`
}
