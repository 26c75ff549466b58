// The installable app: the service worker that keeps the shell for offline
// use (/sw.js; what it caches and never caches is written there), and
// whether the browser is online. Browsers run service workers only on HTTPS
// or on localhost, and one may be blocked: the registration is tried only
// where it can work, and its failure changes nothing but install and offline.

import { useEffect, useState } from 'preact/hooks'
import { t } from './strings.js'
import { html } from './util.js'

export function registerServiceWorker() {
  let container
  try {
    if (!window.isSecureContext) return
    container = navigator.serviceWorker
  } catch { return } // some sandboxes throw on the mere access
  if (!container) return
  const register = () => {
    container.register('/sw.js', { scope: '/' }).catch(() => { /* blocked: a plain web page */ })
  }
  // after the page's own first requests, which matter more than the cache
  if (document.readyState === 'complete') register()
  else addEventListener('load', register, { once: true })
}

/** navigator.onLine, kept up to date. */
export function useOnline() {
  const [online, setOnline] = useState(navigator.onLine)
  useEffect(() => {
    const on = () => setOnline(true)
    const off = () => setOnline(false)
    addEventListener('online', on)
    addEventListener('offline', off)
    return () => { removeEventListener('online', on); removeEventListener('offline', off) }
  }, [])
  return online
}

/** The whole page when the app started without reaching the server. */
export function OfflinePage({ onRetry }) {
  useEffect(() => {
    addEventListener('online', onRetry)
    return () => removeEventListener('online', onRetry)
  }, [onRetry])
  return html`<main class="login offline-page">
    <div class="login-card" role="status">
      <img src="/static/icon.svg" alt="" width="56" height="56" />
      <h1>${t('offlineTitle')}</h1>
      <p>${t('offlineText')}</p>
      <button type="button" class="primary wide" onClick=${onRetry}>${t('retry')}</button>
    </div>
  </main>`
}

/** A line over the app while the connection is gone. */
export function OfflineBanner() {
  const online = useOnline()
  return online ? null : html`<p class="offline-banner" role="status">${t('offlineBanner')}</p>`
}
