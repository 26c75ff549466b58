// The web UI's entry point: who is signed in (GET /auth/session hands the
// CSRF token to this tab), which page the URL names, and the frame around
// it (navigation, quota bar, uploads, dialogs, toasts).

import { render } from 'preact'
import { useCallback, useEffect, useState } from 'preact/hooks'
import { AdminPage } from './admin.js'
import { api, ApiError, sessionEnded, setCsrf } from './api.js'
import { Bell } from './bell.js'
import { CameraPage } from './camera.js'
import { FilesView, prefetchListing } from './files.js'
import { Icon } from './icons.js'
import { LinksPage } from './links.js'
import { follow, prime } from './live.js'
import { Account, Login, Trash } from './pages.js'
import { OfflineBanner, OfflinePage, registerServiceWorker } from './pwa.js'
import { SharePage } from './sharetarget.js'
import { t } from './strings.js'
import { DialogHost, Toasts } from './ui.js'
import { UploadPanel } from './uploadpanel.js'
import { setUploadUser } from './uploads.js'
import { classes, filesUrl, formatSize, html, navigate, navigation, parseLocation } from './util.js'

// Files dropped where no view takes them (a dialog, the sign-in page, the
// moment before a view is ready) must never make the browser open them and
// leave the app.
for (const type of ['dragover', 'drop']) {
  addEventListener(type, (e) => {
    if ([...(e.dataTransfer ? e.dataTransfer.types : [])].includes('Files')) e.preventDefault()
  })
}

function useRoute() {
  const [route, setRoute] = useState(parseLocation)
  useEffect(() => {
    const onChange = () => setRoute(parseLocation())
    navigation.addEventListener('change', onChange)
    return () => navigation.removeEventListener('change', onChange)
  }, [])
  return route
}

function App() {
  const route = useRoute()
  const [me, setMe] = useState(undefined) // undefined: asking; null: signed out
  const [notice, setNotice] = useState('')
  const [offline, setOffline] = useState(false) // the server could not be reached at start

  const refreshMe = useCallback(() => {
    api('GET', '/me', { quiet401: true }).then(setMe).catch(() => {})
  }, [])

  const askSession = useCallback(() => {
    setOffline(false)
    api('GET', '/auth/session', { quiet401: true })
      .then((s) => { setCsrf(s.csrf_token); setMe(s.user) })
      .catch((err) => { if (err instanceof ApiError && err.code === 'network') setOffline(true); else setMe(null) })
  }, [])

  useEffect(() => {
    prime() // the feed's cursor, fetched beside the session rather than after it
    const start = parseLocation()
    if (start.view === 'files' && !start.q) prefetchListing(start.path)
    askSession()
    const ended = () => { setCsrf(null); setMe(null); setNotice(t('signedOutElsewhere')) }
    sessionEnded.addEventListener('ended', ended)
    return () => sessionEnded.removeEventListener('ended', ended)
  }, [])

  useEffect(() => {
    if (!me) return
    setUploadUser(me.username)
    follow()
  }, [me])

  // Signed out: every page is the sign-in page, and comes back after it.
  useEffect(() => {
    if (me === null && route.view !== 'login') {
      const next = location.pathname + location.search
      navigate(`/login${next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`, { replace: true })
    }
    if (me && route.view === 'login') navigate(route.next || '/', { replace: true })
  }, [me, route.view])

  if (offline && me === undefined) return html`<${OfflinePage} onRetry=${askSession} />`
  if (me === undefined || (me && route.view === 'login')) {
    return html`<p class="splash" role="status">${t('loading')}</p>`
  }
  if (me === null || route.view === 'login') {
    return html`<${Login} next=${route.next} notice=${notice}
      onSignedIn=${(user) => { setNotice(''); setMe(user) }} />`
  }
  const signedOut = () => { setCsrf(null); setMe(null); setNotice('') }
  let page
  if (route.view === 'trash') page = html`<${Trash} onChanged=${refreshMe} />`
  else if (route.view === 'links') page = html`<${LinksPage} />`
  else if (route.view === 'admin') page = html`<${AdminPage} me=${me} onChanged=${refreshMe} />`
  else if (route.view === 'camera') page = html`<${CameraPage} me=${me} />`
  else if (route.view === 'share') page = html`<${SharePage} />`
  else if (route.view === 'account') page = html`<${Account} me=${me} onSignedOut=${signedOut} />`
  else page = html`<${FilesView} route=${route} onChanged=${refreshMe} />`
  return html`<div class="app">
    <${Sidebar} me=${me} view=${route.view} />
    <main class="main"><${OfflineBanner} />${page}</main>
    <${UploadPanel} />
    <${DialogHost} />
    <${Toasts} />
  </div>`
}

function Sidebar({ me, view }) {
  const link = (href, name, icon, label) => html`<li>
    <a href=${href} class=${classes('nav-link', view === name && 'active')}
       aria-current=${view === name ? 'page' : undefined}
       onClick=${(e) => { e.preventDefault(); navigate(href) }}>
      <${Icon} name=${icon} /><span>${label}</span></a></li>`
  const share = me.quota_bytes ? Math.min(100, (me.used_bytes * 100) / me.quota_bytes) : 0
  return html`<nav class="sidebar" aria-label=${t('mainNav')}>
    <a class="brand" href="/" onClick=${(e) => { e.preventDefault(); navigate(filesUrl('/')) }}>
      <img src="/static/icon.svg" alt="" width="28" height="28" /><span>${t('appName')}</span></a>
    <ul>
      ${link(filesUrl('/'), 'files', 'folder', t('files'))}
      ${link('/links', 'links', 'link', t('links'))}
      ${link('/trash', 'trash', 'trash', t('trash'))}
      ${link('/camera', 'camera', 'camera', t('cameraNav'))}
      ${link('/account', 'account', 'account', t('account'))}
      ${me.is_admin && link('/admin', 'admin', 'shield', t('admin'))}
      <li><${Bell} me=${me} /></li>
    </ul>
    <div class="quota">
      ${me.quota_bytes > 0 && html`<meter min="0" max="100" value=${share} aria-label=${t('quotaLabel')}></meter>`}
      <span>${t('quotaUsed', formatSize(me.used_bytes), me.quota_bytes ? formatSize(me.quota_bytes) : '')}</span>
    </div>
  </nav>`
}

render(html`<${App} />`, document.getElementById('app'))
registerServiceWorker()
