// A file's recent activity in its details panel: who did what (created,
// edited, renamed, moved, deleted, restored, shared), when, and from which
// device, newest first, a page at a time (GET /files/activity, built by the
// server from the change journal; it keeps 30 days by default).

import { useEffect, useState } from 'preact/hooks'
import { api, describe } from './api.js'
import { t } from './strings.js'
import { baseName, formatDate, html, parentOf } from './util.js'

const PAGE = 20

export function ActivityList({ path, version }) {
  const [items, setItems] = useState(null)
  const [next, setNext] = useState(null)
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  function load(before, signal) {
    setBusy(true)
    return api('GET', '/files/activity', { query: { path, limit: PAGE, before }, signal })
      .then((r) => {
        setItems((old) => (before ? [...(old || []), ...r.activity] : r.activity))
        setNext(r.next_before)
      })
      .catch((err) => { if (err.name !== 'AbortError') setError(describe(err)) })
      .finally(() => setBusy(false))
  }
  useEffect(() => {
    const ctl = new AbortController()
    setError('')
    load(null, ctl.signal)
    return () => ctl.abort()
  }, [path, version])
  return html`<section class="activity-section" aria-labelledby="activity-title">
    <h3 id="activity-title">${t('activity')}</h3>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${!items && !error && html`<p class="muted">${t('loading')}</p>`}
    ${items && !items.length && html`<p class="muted">${t('noActivity')}</p>`}
    ${items && items.length > 0 && html`<ol class="activity" aria-label=${t('activity')}>
      ${items.map((a, i) => html`<li key=${i} class=${`activity-item activity-${a.action}`}>
        <bdi class="activity-what">${describeActivity(a)}</bdi>
        <div class="muted"><bdi>${[formatDate(a.at), a.device].filter(Boolean).join(' · ')}</bdi></div>
      </li>`)}
    </ol>`}
    ${next && html`<button type="button" disabled=${busy} onClick=${() => load(next)}>${t('showMore')}</button>`}
  </section>`
}

/** "Ben edited it", "Anna renamed it from budget.xlsx", "Anna shared it with you" */
export function describeActivity(a) {
  const who = a.by || t('someone')
  const to = a.to || t('withYou') // none: with me
  let from = ''
  if (a.old_path) from = a.action === 'renamed' ? baseName(a.old_path) : parentOf(a.old_path)
  return t('activityLine', a.action, who, to, from)
}
