// The other pages: sign-in, the trash, and the account page (devices and
// browser sessions, sign out, sign out everywhere).

import { useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError, describe, setCsrf } from './api.js'
import { Icon } from './icons.js'
import { t } from './strings.js'
import { confirm, toast } from './ui.js'
import { formatDate, formatSize, html, navigate, parentOf, safeNext } from './util.js'

export function Login({ next, onSignedIn, notice }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState(notice || '')
  const user = useRef(null)
  useEffect(() => { user.current.focus() }, [])
  async function submit(e) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    setBusy(true)
    setError('')
    try {
      const session = await api('POST', '/auth/login', {
        body: { username: form.get('username'), password: form.get('password') }, quiet401: true,
      })
      setCsrf(session.csrf_token)
      onSignedIn(session.user)
      navigate(safeNext(next), { replace: true })
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError(t('wrongCredentials'))
      else if (err instanceof ApiError && err.code === 'forbidden') setError(t('accountDisabled'))
      else if (err instanceof ApiError && err.status === 429) setError(t('tooManyAttempts', err.details.retryAfter || 60))
      else setError(describe(err))
      setBusy(false)
    }
  }
  return html`<main class="login">
    <form class="login-card" onSubmit=${submit} aria-labelledby="login-title">
      <img src="/static/icon.svg" alt="" width="56" height="56" />
      <h1 id="login-title">${t('signInTitle')}</h1>
      <label class="field"><span>${t('username')}</span>
        <input ref=${user} name="username" autocomplete="username" autocapitalize="none"
               spellcheck="false" required /></label>
      <label class="field"><span>${t('password')}</span>
        <input name="password" type="password" autocomplete="current-password" required /></label>
      <p class="error" role="alert" id="login-error">${error}</p>
      <button type="submit" class="primary wide" disabled=${busy}>${busy ? t('signingIn') : t('signIn')}</button>
    </form>
  </main>`
}

export function Trash({ retentionNote, onChanged }) {
  const [entries, setEntries] = useState(null)
  const [error, setError] = useState('')
  const [picked, setPicked] = useState(() => new Set())
  const [version, setVersion] = useState(0)
  useEffect(() => {
    api('GET', '/trash').then((r) => setEntries(r.entries.sort((a, b) => b.deleted_at - a.deleted_at)))
      .catch((err) => setError(describe(err)))
  }, [version])
  const reload = () => { setPicked(new Set()); setVersion((v) => v + 1); onChanged() }
  async function restore(ids) {
    let ok = 0
    for (const id of ids) {
      try { await api('POST', '/trash/restore', { body: { id } }); ok++ } catch (err) { toast(describe(err), { error: true }) }
    }
    if (ok) toast(t('restored', ok))
    reload()
  }
  async function purge(ids) {
    const all = ids === null
    if (!(await confirm({ title: t('deleteForever'), text: all ? t('confirmEmpty') : t('confirmPurge', ids.length),
      action: t('deleteForever'), danger: true }))) return
    try {
      const r = await api('POST', '/trash/purge', { body: all ? { all: true } : { ids } })
      toast(t('purged', r.files))
    } catch (err) { toast(describe(err), { error: true }) }
    reload()
  }
  const toggle = (id) => {
    const next = new Set(picked)
    if (next.has(id)) next.delete(id)
    else next.add(id)
    setPicked(next)
  }
  return html`<section class="page trash" aria-labelledby="trash-title"
      data-loaded=${entries || error ? 'true' : 'false'}>
    <header class="page-head">
      <h1 id="trash-title">${t('trashTitle')}</h1>
      <div class="page-actions">
        ${picked.size > 0 && html`<button type="button" onClick=${() => restore([...picked])}>${t('restore')}</button>
          <button type="button" class="danger" onClick=${() => purge([...picked])}>${t('deleteForever')}</button>`}
        <button type="button" class="danger" disabled=${!entries || !entries.length}
                onClick=${() => purge(null)}>${t('emptyTrash')}</button>
      </div>
    </header>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${!entries && !error && html`<p class="muted">${t('loading')}</p>`}
    ${entries && !entries.length && html`<p class="empty">${t('trashEmpty')}</p>`}
    ${entries && entries.length > 0 && html`<table class="table">
      <thead><tr>
        <th scope="col"><span class="visually-hidden">${t('selectAll')}</span></th>
        <th scope="col">${t('colName')}</th><th scope="col">${t('deletedFrom')}</th>
        <th scope="col">${t('deletedAt')}</th><th scope="col" class="hide-phone">${t('expires')}</th>
        <th scope="col" class="hide-phone">${t('colSize')}</th><th scope="col"><span class="visually-hidden">${t('restore')}</span></th>
      </tr></thead>
      <tbody>${entries.map((e) => html`<tr key=${e.id}>
        <td><input type="checkbox" checked=${picked.has(e.id)} onChange=${() => toggle(e.id)}
                   aria-label=${t('selectItem', e.name)} /></td>
        <td><${Icon} name=${e.kind === 'folder' ? 'folder' : 'file'} /> <bdi>${e.name}</bdi></td>
        <td><bdi>${parentOf(e.path)}</bdi></td>
        <td>${formatDate(e.deleted_at)}${e.deleted_by ? html`<div class="muted"><bdi>${e.deleted_by}</bdi></div>` : ''}</td>
        <td class="hide-phone">${e.expires_at ? formatDate(e.expires_at) : ''}</td>
        <td class="hide-phone">${formatSize(e.size)}</td>
        <td><button type="button" onClick=${() => restore([e.id])} aria-label=${`${t('restore')} ${e.name}`}>${t('restore')}</button></td>
      </tr>`)}</tbody>
    </table>`}
    ${retentionNote}
  </section>`
}

export function Account({ me, onSignedOut }) {
  const [devices, setDevices] = useState(null)
  const [error, setError] = useState('')
  const [alsoDevices, setAlsoDevices] = useState(false)
  const [version, setVersion] = useState(0)
  useEffect(() => {
    api('GET', '/auth/tokens').then((r) => setDevices(r.devices)).catch((err) => setError(describe(err)))
  }, [version])
  async function revoke(d) {
    try {
      await api('DELETE', `/auth/tokens/${d.id}`)
      if (d.current) { onSignedOut(); return }
      setVersion((v) => v + 1)
    } catch (err) { toast(describe(err), { error: true }) }
  }
  async function signOut() {
    try { await api('POST', '/auth/logout') } catch { /* gone already */ }
    onSignedOut()
  }
  async function everywhere() {
    try { await api('POST', '/auth/logout_all', { body: { devices: alsoDevices } }) } catch { /* gone */ }
    onSignedOut()
  }
  return html`<section class="page account" aria-labelledby="account-title"
      data-loaded=${devices || error ? 'true' : 'false'}>
    <header class="page-head"><h1 id="account-title">${t('accountTitle')}</h1></header>
    <p><bdi>${t('signedInAs', me.username)}</bdi></p>
    <p class="muted">${t('quotaUsed', formatSize(me.used_bytes), me.quota_bytes ? formatSize(me.quota_bytes) : '')}</p>
    <h2>${t('devicesTitle')}</h2>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${!devices && !error && html`<p class="muted">${t('loading')}</p>`}
    ${devices && html`<table class="table devices">
      <thead><tr><th scope="col">${t('colName')}</th><th scope="col" class="hide-phone">${t('createdAt')}</th>
        <th scope="col">${t('lastSeen')}</th><th scope="col"><span class="visually-hidden">${t('revoke')}</span></th></tr></thead>
      <tbody>${devices.map((d) => html`<tr key=${d.id}>
        <td><${Icon} name=${d.kind === 'web' ? 'grid' : 'account'} /> <bdi>${d.name}</bdi>
          <div class="muted">${d.kind === 'web' ? t('deviceWeb') : t('deviceApp')}${d.current ? ` · ${t('thisDevice')}` : ''}</div></td>
        <td class="hide-phone">${formatDate(d.created_at)}</td>
        <td>${formatDate(d.last_seen_at)}</td>
        <td><button type="button" onClick=${() => revoke(d)} aria-label=${t('revokeDevice', d.name)}>${t('revoke')}</button></td>
      </tr>`)}</tbody>
    </table>`}
    <div class="account-actions">
      <button type="button" onClick=${signOut}>${t('signOut')}</button>
      <label class="check"><input type="checkbox" checked=${alsoDevices}
        onChange=${(e) => setAlsoDevices(e.target.checked)} /> ${t('alsoDevices')}</label>
      <button type="button" class="danger" onClick=${everywhere}>${t('signOutEverywhere')}</button>
    </div>
    <p class="muted">${t('theme')}</p>
  </section>`
}
