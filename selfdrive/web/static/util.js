// Small pure helpers: paths, the app's URLs, sizes, dates, kinds of file.

import { h } from 'preact'
import htm from 'htm'

export const html = htm.bind(h)

// -- paths (user-relative, '/'-separated, as the API takes them) -----------

export function joinPath(folder, name) {
  return folder === '/' ? `/${name}` : `${folder}/${name}`
}
export function parentOf(path) {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}
export function baseName(path) {
  return path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1)
}
export function segments(path) {
  return path.split('/').filter(Boolean)
}

// -- the app's own URLs: /files/<path>?preview=<name>&q=<search> -------------

export function filesUrl(folder, { preview, q } = {}) {
  const tail = segments(folder).map(encodeURIComponent).join('/')
  const params = new URLSearchParams()
  if (preview) params.set('preview', preview)
  if (q) params.set('q', q)
  const query = params.toString()
  return `/files${tail ? '/' + tail : ''}${query ? '?' + query : ''}`
}

/** What the current URL names: {view, path, preview, q, next}. */
export function parseLocation(loc = location) {
  const params = new URLSearchParams(loc.search)
  const p = loc.pathname
  if (p === '/login') return { view: 'login', next: safeNext(params.get('next')) }
  if (p === '/trash') return { view: 'trash' }
  if (p === '/account') return { view: 'account' }
  if (p === '/camera') return { view: 'camera' }
  if (p === '/share') return { view: 'share' }
  if (p === '/links') return { view: 'links' }
  if (p === '/admin') return { view: 'admin' }
  let path = '/'
  if (p.startsWith('/files/')) {
    try {
      path = '/' + p.slice(7).split('/').filter(Boolean).map(decodeURIComponent).join('/')
    } catch { path = '/' }
  }
  return { view: 'files', path, preview: params.get('preview'), q: params.get('q') || '' }
}

/** Only a same-origin path may follow sign-in (never //host or a scheme). */
export function safeNext(next) {
  if (!next || typeof next !== 'string') return '/'
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/'
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return '/'
  return next
}

export const navigation = new EventTarget()
export function navigate(href, { replace = false } = {}) {
  if (href === location.pathname + location.search) return
  if (replace) history.replaceState(null, '', href)
  else history.pushState(null, '', href)
  navigation.dispatchEvent(new Event('change'))
}
addEventListener('popstate', () => navigation.dispatchEvent(new Event('change')))

// -- numbers and dates ------------------------------------------------------

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB']
export function formatSize(bytes) {
  if (bytes === null || bytes === undefined) return ''
  let i = 0
  let v = bytes
  while (v >= 1000 && i < UNITS.length - 1) { v /= 1000; i++ }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${UNITS[i]}`
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
export function formatDate(ms) {
  return ms ? dateFormat.format(new Date(ms)) : ''
}

export function formatDuration(seconds) {
  if (!isFinite(seconds) || seconds < 0) return ''
  if (seconds < 60) return `${Math.ceil(seconds)} s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`
}

export const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' })

// -- kinds of file ----------------------------------------------------------

const KINDS = {
  image: ['jpg', 'jpeg', 'png', 'gif', 'webp', 'bmp', 'avif', 'svg', 'ico'],
  photo: ['heic', 'heif', 'tif', 'tiff'], // thumbnails from the server, not shown raw
  video: ['mp4', 'webm', 'm4v', 'mov', 'ogv'],
  audio: ['mp3', 'ogg', 'oga', 'opus', 'wav', 'flac', 'm4a', 'aac'],
  pdf: ['pdf'],
  text: ['txt', 'md', 'markdown', 'csv', 'tsv', 'log', 'json', 'xml', 'yaml', 'yml', 'toml', 'ini',
    'cfg', 'conf', 'py', 'js', 'mjs', 'ts', 'tsx', 'jsx', 'css', 'scss', 'html', 'htm', 'c', 'h',
    'cpp', 'hpp', 'cc', 'rs', 'go', 'java', 'kt', 'rb', 'php', 'sh', 'bash', 'zsh', 'sql', 'lua',
    'pl', 'r', 'swift', 'tex', 'srt', 'vtt', 'diff', 'patch', 'rst', 'env'],
  archive: ['zip', 'tar', 'gz', 'tgz', 'bz2', 'xz', 'zst', '7z', 'rar'],
}
const KIND_OF = new Map()
for (const [kind, exts] of Object.entries(KINDS)) for (const e of exts) KIND_OF.set(e, kind)

export function extension(name) {
  const i = name.lastIndexOf('.')
  return i > 0 ? name.slice(i + 1).toLowerCase() : ''
}

/** folder, image, photo, video, audio, pdf, text, archive or file */
export function kindOf(entry) {
  if (entry.kind === 'folder') return 'folder'
  return KIND_OF.get(extension(entry.name)) || 'file'
}

/** Whether the server can make a thumbnail of it. */
export function hasThumbnail(entry) {
  const k = kindOf(entry)
  return (k === 'image' && extension(entry.name) !== 'svg' && extension(entry.name) !== 'ico') ||
    k === 'photo'
}

/** "name (1).ext", "name (2).ext"... the first not in taken (a Set of names). */
export function freeName(name, taken) {
  if (!taken.has(name)) return name
  const ext = extension(name)
  const stem = ext ? name.slice(0, -(ext.length + 1)) : name
  for (let i = 1; ; i++) {
    const candidate = ext ? `${stem} (${i}).${ext}` : `${stem} (${i})`
    if (!taken.has(candidate)) return candidate
  }
}

export function classes(...names) {
  return names.filter(Boolean).join(' ')
}
