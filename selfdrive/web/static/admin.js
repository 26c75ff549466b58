// The admin page (/admin, administrators only): every user with a quota bar,
// add a user, reset a password, change a quota, disable and enable again;
// and the server's status (version, disk, store and dedup, background jobs,
// backup). Everyone else gets a plain "not allowed" page, and the API
// refuses them anyway (403). Quotas are typed in gigabytes (10^9 bytes), as
// formatSize shows them.

import { useEffect, useState } from 'preact/hooks'
import { api, ApiError, describe } from './api.js'
import { t } from './strings.js'
import { Modal, confirm, openDialog, toast } from './ui.js'
import { filesUrl, formatDate, formatSize, html, navigate } from './util.js'

const GB = 1e9

/** Bytes from a number of gigabytes typed by a person; null if it is not one. */
export function parseQuota(text) {
  const value = String(text).trim().replace(',', '.')
  if (!/^\d+(\.\d+)?$/.test(value)) return null
  const bytes = Math.round(Number(value) * GB)
  return Number.isSafeInteger(bytes) ? bytes : null
}

const asGb = (bytes) => String(Math.round((bytes / GB) * 1000) / 1000)

export function AdminPage({ me, onChanged }) {
  const [users, setUsers] = useState(null)
  const [status, setStatus] = useState(null)
  const [error, setError] = useState('')
  const [forbidden, setForbidden] = useState(!me.is_admin)
  const [version, setVersion] = useState(0)
  useEffect(() => {
    if (!me.is_admin) return
    const refused = (err) => {
      if (err instanceof ApiError && err.status === 403) setForbidden(true)
      else setError(describe(err))
    }
    api('GET', '/admin/users').then((r) => setUsers(r.users)).catch(refused)
    api('GET', '/admin/status').then(setStatus).catch(refused)
  }, [version, me.is_admin])
  if (forbidden) return html`<${NotAllowed} />`
  const reload = () => { setVersion((v) => v + 1); onChanged() }
  return html`<section class="page admin" aria-labelledby="admin-title"
      data-loaded=${(users && status) || error ? 'true' : 'false'}>
    <header class="page-head"><h1 id="admin-title">${t('adminTitle')}</h1>
      <div class="page-actions"><button type="button" onClick=${reload}>${t('refresh')}</button></div>
    </header>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <h2 id="users-title">${t('usersTitle')}</h2>
    <${AddUser} onAdded=${reload} />
    ${!users && !error && html`<p class="muted">${t('loading')}</p>`}
    ${users && html`<${UserTable} users=${users} me=${me} onChanged=${reload} />`}
    <h2 id="status-title">${t('statusTitle')}</h2>
    ${status ? html`<${StatusPanel} s=${status} />` : !error && html`<p class="muted">${t('loading')}</p>`}
  </section>`
}

function NotAllowed() {
  return html`<section class="page not-allowed" aria-labelledby="not-allowed-title">
    <h1 id="not-allowed-title">${t('notAllowedTitle')}</h1>
    <p>${t('notAllowed')}</p>
    <p><a href="/" onClick=${(e) => { e.preventDefault(); navigate(filesUrl('/')) }}>${t('backToFiles')}</a></p>
  </section>`
}

function AddUser({ onAdded }) {
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  async function submit(e) {
    e.preventDefault()
    const form = e.currentTarget
    const data = new FormData(form)
    const body = { username: String(data.get('username')).trim(), password: String(data.get('password')),
      is_admin: data.get('is_admin') === 'on' }
    const quota = String(data.get('quota')).trim()
    if (quota) {
      body.quota_bytes = parseQuota(quota)
      if (body.quota_bytes === null) { setError(t('badQuota')); return }
    }
    if (body.password.length < 8) { setError(t('passwordTooShort')); return }
    setBusy(true)
    setError('')
    try {
      await api('POST', '/admin/users', { body })
      form.reset()
      toast(t('userAdded', body.username))
      onAdded()
    } catch (err) { setError(describe(err)) }
    setBusy(false)
  }
  return html`<form class="add-user" onSubmit=${submit} aria-label=${t('addUserTitle')}>
    <label class="field"><span>${t('username')}</span>
      <input name="username" autocomplete="off" autocapitalize="none" spellcheck="false" required /></label>
    <label class="field"><span>${t('password')}</span>
      <input name="password" type="password" autocomplete="new-password" required minlength="8" /></label>
    <label class="field narrow"><span>${t('quotaGb')}</span>
      <input name="quota" type="number" min="0" step="any" inputmode="decimal" /></label>
    <label class="check"><input name="is_admin" type="checkbox" /> ${t('makeAdmin')}</label>
    <button type="submit" class="primary" disabled=${busy}>${t('addUser')}</button>
    <p class="error" role="alert">${error}</p>
  </form>`
}

function UserTable({ users, me, onChanged }) {
  async function run(call, done) {
    try { await call(); toast(done); onChanged() } catch (err) { toast(describe(err), { error: true }) }
  }
  async function quota(u) {
    const bytes = await openDialog((close) => html`<${QuotaDialog} user=${u} close=${close} />`)
    if (bytes === null || bytes === undefined) return
    run(() => api('PATCH', `/admin/users/${u.id}`, { body: { quota_bytes: bytes } }),
      t('quotaChanged', u.username, formatSize(bytes)))
  }
  async function password(u) {
    const pw = await openDialog((close) => html`<${PasswordDialog} user=${u} close=${close} />`)
    if (!pw) return
    run(() => api('POST', `/admin/users/${u.id}/password`, { body: { password: pw } }), t('passwordSet', u.username))
  }
  async function disable(u) {
    if (!(await confirm({ title: t('disableTitle', u.username), text: t('disableText'), action: t('disable'), danger: true }))) return
    run(() => api('PATCH', `/admin/users/${u.id}`, { body: { disabled: true } }), t('disabled', u.username))
  }
  const enable = (u) => run(() => api('PATCH', `/admin/users/${u.id}`, { body: { disabled: false } }), t('enabled', u.username))
  return html`<table class="table users" aria-labelledby="users-title">
    <thead><tr><th scope="col">${t('colName')}</th><th scope="col">${t('colStorage')}</th>
      <th scope="col" class="hide-phone">${t('colStatus')}</th>
      <th scope="col" class="hide-phone">${t('createdAt')}</th>
      <th scope="col"><span class="visually-hidden">${t('colActions')}</span></th></tr></thead>
    <tbody>${users.map((u) => {
      const share = u.quota_bytes ? Math.min(100, (u.used_bytes * 100) / u.quota_bytes) : 100
      const self = u.username === me.username
      return html`<tr key=${u.id} data-user=${u.username} class=${u.disabled_at ? 'is-disabled' : ''}>
        <td><bdi>${u.username}</bdi>${u.is_admin && html`<span class="user-tag">${t('adminBadge')}</span>`}${self && html`<span class="user-tag">${t('youBadge')}</span>`}
          ${u.disabled_at && html`<span class="user-tag off">${t('userDisabled')}</span>`}</td>
        <td><meter min="0" max="100" value=${share} aria-label=${t('storageOf', u.username)}></meter>
          <span class="muted">${t('quotaUsed', formatSize(u.used_bytes), formatSize(u.quota_bytes))}</span></td>
        <td class="hide-phone">${u.disabled_at ? t('userDisabled') : t('userActive')}</td>
        <td class="hide-phone">${formatDate(u.created_at)}</td>
        <td><div class="row-actions">
          <button type="button" onClick=${() => quota(u)} aria-label=${t('changeQuotaOf', u.username)}>${t('changeQuota')}</button>
          <button type="button" onClick=${() => password(u)} aria-label=${t('resetPasswordOf', u.username)}>${t('resetPassword')}</button>
          ${!self && (u.disabled_at
            ? html`<button type="button" onClick=${() => enable(u)} aria-label=${t('enableUser', u.username)}>${t('enable')}</button>`
            : html`<button type="button" class="danger" onClick=${() => disable(u)} aria-label=${t('disableUser', u.username)}>${t('disable')}</button>`)}
        </div></td>
      </tr>`
    })}</tbody>
  </table>`
}

function QuotaDialog({ user, close }) {
  const [value, setValue] = useState(asGb(user.quota_bytes))
  const [error, setError] = useState('')
  function submit(e) {
    e.preventDefault()
    const bytes = parseQuota(value)
    if (bytes === null) { setError(t('badQuota')); return }
    close(bytes)
  }
  return html`<${Modal} title=${t('quotaTitle', user.username)} onClose=${() => close(null)}>
    <form class="modal-body" onSubmit=${submit}>
      <label class="field"><span>${t('quotaGb')}</span>
        <input type="number" min="0" step="any" inputmode="decimal" value=${value} autofocus
               onInput=${(e) => { setValue(e.target.value); setError('') }}
               aria-invalid=${error ? 'true' : 'false'} aria-describedby="quota-error" /></label>
      <p class="muted">${t('quotaUsed', formatSize(user.used_bytes), formatSize(user.quota_bytes))}</p>
      <p id="quota-error" class="error" role="alert">${error}</p>
      <div class="modal-actions">
        <button type="button" onClick=${() => close(null)}>${t('cancel')}</button>
        <button type="submit" class="primary">${t('save')}</button>
      </div>
    </form>
  <//>`
}

function PasswordDialog({ user, close }) {
  const [value, setValue] = useState('')
  const [error, setError] = useState('')
  function submit(e) {
    e.preventDefault()
    if (value.length < 8) { setError(t('passwordTooShort')); return }
    close(value)
  }
  return html`<${Modal} title=${t('passwordTitle', user.username)} onClose=${() => close(null)}>
    <form class="modal-body" onSubmit=${submit}>
      <label class="field"><span>${t('newPassword')}</span>
        <input type="password" autocomplete="new-password" value=${value} autofocus
               onInput=${(e) => { setValue(e.target.value); setError('') }}
               aria-invalid=${error ? 'true' : 'false'} aria-describedby="password-error" /></label>
      <p id="password-error" class="error" role="alert">${error}</p>
      <div class="modal-actions">
        <button type="button" onClick=${() => close(null)}>${t('cancel')}</button>
        <button type="submit" class="primary">${t('setPassword')}</button>
      </div>
    </form>
  <//>`
}

function StatusPanel({ s }) {
  const d = s.disk
  const m = s.maintenance
  const diskShare = d.total_bytes ? (d.used_bytes * 100) / d.total_bytes : 0
  return html`<dl class="status">
    <dt>${t('version')}</dt><dd>${s.version}</dd>
    <dt>${t('usersCount')}</dt><dd>${s.users}</dd>
    <dt>${t('disk')}</dt><dd>
      <meter min="0" max="100" value=${diskShare} aria-label=${t('diskLabel')}></meter>
      ${t('diskOf', formatSize(d.used_bytes), formatSize(d.total_bytes), formatSize(d.free_bytes))}
      <div class="muted"><bdi>${d.path}</bdi></div></dd>
    <dt>${t('database')}</dt><dd>${formatSize(d.database_bytes)}</dd>
    <dt>${t('stored')}</dt><dd>${t('storedBlocks', s.store.blocks, formatSize(s.store.stored_bytes))}</dd>
    <dt>${t('dedup')}</dt><dd>${t('dedupRatio', s.store.dedup_ratio, formatSize(s.store.logical_bytes))}</dd>
    <dt>${t('maintenance')}</dt><dd>
      ${t('maintenanceRuns', m.runs_ok, m.runs_failed)}${m.running ? `, ${t('maintenanceRunning')}` : ''}
      <div class="muted">${m.last_run_at ? t('lastRun', formatDate(m.last_run_at)) : t('notYet')}</div>
      ${m.last_error && html`<div class="error">${t('lastError', formatDate(m.last_error_at), m.last_error)}</div>`}</dd>
    <dt>${t('backup')}</dt><dd>${s.backup ? s.backup.targets.map((b) => html`<div key=${b.name} class="backup-target">
        <div><bdi>${t('backupTarget', b.name, b.where)}</bdi> · ${b.healthy ? t('backupHealthy') : t('backupDown')}</div>
        <div class="muted">${t('backupPending', b.pending_blocks, formatSize(b.pending_bytes))}${b.snapshot_at ? ` · ${t('backupSnapshot', formatDate(b.snapshot_at))}` : ''}</div>
        ${b.last_error && html`<div class="error">${t('lastError', formatDate(b.last_error_at), b.last_error)}</div>`}
      </div>`) : t('backupOff')}</dd>
  </dl>`
}
