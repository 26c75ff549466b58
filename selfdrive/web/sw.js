// The service worker (served at /sw.js, scope /): it keeps the app shell (the
// page, this release's modules and styles, the vendored Preact, htm and
// tus-js-client, the icons) in one cache named after the release, so the
// installed app opens without a network and says it is offline.
//
// It never stores user data: the cache is filled only at install, from the
// fixed SHELL list below, and nothing a fetch brings back is ever put in it.
// API answers, downloads, thumbnails, WebDAV and public links are not even
// looked at (NEVER): the browser fetches them as if there were no worker.
// A new release is a new worker (the server writes the release into this
// file); it installs its own cache and, once active, deletes the others.
//
// The server fills in CACHE and SHELL (selfdrive/web/__init__.py).

const CACHE = '{{CACHE}}'
const SHELL = {{SHELL}}
const NEVER = ['/api/', '/dav', '/s/', '/uploads', '/share-target', '/healthz', '/metrics']
const PREFIX = 'selfdrive-shell-'

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(
        keys.filter((key) => key.startsWith(PREFIX) && key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  )
})

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET') return // uploads, the share target: straight to the server
  const url = new URL(request.url)
  if (url.origin !== self.location.origin) return
  if (NEVER.some((prefix) => url.pathname.startsWith(prefix))) return
  if (request.mode === 'navigate') {
    // Online, the server answers (it may have a newer shell); offline, the
    // cached shell draws the page the URL names and shows the offline state.
    if (url.pathname.startsWith('/static/') || url.pathname.startsWith('/vendor/')) return
    event.respondWith(fetch(request).catch(() => fromShell('/').then((hit) => hit || Response.error())))
    return
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(fromShell(url.pathname).then((hit) => hit || fetch(request)))
  }
})

/** The cached copy of a shell URL, or undefined. */
async function fromShell(path) {
  const cache = await caches.open(CACHE)
  return cache.match(path)
}
