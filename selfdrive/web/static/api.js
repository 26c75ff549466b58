// The public HTTP API, as the browser uses it: the session cookie rides on
// every same-origin request; unsafe methods add the CSRF token that sign-in
// (or GET /auth/session) handed out. Errors become ApiError with the
// server's machine code and message.

import { t } from './strings.js'

export const API = '/api/v1'

let csrfToken = null
export function setCsrf(token) { csrfToken = token }
export function csrf() { return csrfToken }

/** Someone (this tab or another) ended the session: the app shows sign-in. */
export const sessionEnded = new EventTarget()

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message)
    this.status = status
    this.code = code
    this.details = details || {}
  }
}

function url(path, query) {
  const u = new URL(API + path, location.origin)
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v))
  }
  return u
}

export async function api(method, path, { query, body, signal, quiet401 } = {}) {
  const headers = {}
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  if (!['GET', 'HEAD', 'OPTIONS'].includes(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken
  let response
  try {
    response = await fetch(url(path, query), {
      method, headers, signal, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch (err) {
    if (err.name === 'AbortError') throw err
    throw new ApiError(0, 'network', t('errorNetwork'))
  }
  if (response.status === 204) return null
  let data = null
  try { data = await response.json() } catch { /* not JSON */ }
  if (!response.ok) {
    const e = (data && data.error) || {}
    if (response.status === 401 && !quiet401) sessionEnded.dispatchEvent(new Event('ended'))
    const retry = Number(response.headers.get('retry-after') || 0)
    throw new ApiError(response.status, e.code || `http_${response.status}`,
      e.message || response.statusText, { ...e, retryAfter: retry })
  }
  return data
}

/** A short, human message for an error from api(). */
export function describe(err) {
  if (!(err instanceof ApiError)) return t('errorGeneric')
  switch (err.code) {
    case 'network': return t('errorNetwork')
    case 'not_found': return t('errorNotFound')
    case 'quota_exceeded': return t('errorQuota')
    case 'already_exists': return t('errorExists')
    case 'forbidden': return t('errorForbidden')
    case 'invalid_path': return err.message || t('errorInvalidName')
    default: return err.message || t('errorGeneric')
  }
}

const q = (query) => url('', query).search

export const contentUrl = (path, rev) => `${API}/files/content${q({ path, rev })}`
export const downloadUrl = (path, rev) => `${API}/files/download${q({ path, rev })}`
export const thumbnailUrl = (path, size, rev) => `${API}/files/thumbnail${q({ path, size, rev })}`
/** names: entries of folder to include; none for the whole folder */
export const zipUrl = (folder, names) =>
  `${API}/files/zip${q({ path: folder, names: names && names.length ? names.join('/') : undefined })}`

/** Every entry of a folder, page by page; onPage gets the growing list. */
export async function listFolder(path, { signal, onPage, first = null, firstPage = 300, pageSize = 5000 }) {
  let entries = []
  let after = null
  let folder = null
  let limit = firstPage
  for (;;) {
    // a page asked for early (prefetchListing) if it came; otherwise ask now
    const page = (first && await first.catch(() => null)) ||
      await api('GET', '/files/list', { query: { path, after, limit }, signal })
    first = null
    folder = page.folder
    entries = entries.concat(page.entries)
    after = page.next_after
    if (onPage) onPage(folder, entries, after !== null)
    if (after === null) return { folder, entries }
    limit = pageSize
  }
}

/** Start a browser download of a URL without leaving the page. */
export function startDownload(href) {
  const a = document.createElement('a')
  a.href = href
  a.download = ''
  a.rel = 'noopener'
  document.body.append(a)
  a.click()
  a.remove()
}
