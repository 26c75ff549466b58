// The share page (/share): where a phone's share sheet lands. The server
// has already stored the shared files (POST /share-target, see
// selfdrive/http/sharetarget.py) in the folder chosen last here, and sends
// the browser to /share?to=<folder>&f=<name>...; this page lists them, can
// move them elsewhere, and sets where the next ones go. That choice is a
// cookie (sd_share_to, not a credential), because the server reads it when
// the files arrive, before any page runs.

import { useState } from 'preact/hooks'
import { moveOrCopy, pickFolder } from './actions.js'
import { Icon } from './icons.js'
import { t } from './strings.js'
import { describe, ApiError } from './api.js'
import { filesUrl, html, joinPath, navigate } from './util.js'

const COOKIE = 'sd_share_to'
/** where shared files go until a folder is chosen (the server's INBOX) */
const INBOX = '/Shared to selfdrive'

function chosenFolder() {
  const found = document.cookie.split('; ').find((c) => c.startsWith(COOKIE + '='))
  if (!found) return INBOX
  try { return decodeURIComponent(found.slice(COOKIE.length + 1)) || INBOX } catch { return INBOX }
}

function choose(folder) {
  const secure = location.protocol === 'https:' ? '; Secure' : ''
  document.cookie = `${COOKIE}=${encodeURIComponent(folder)}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`
}

function problem(code) {
  if (code === 'signin') return t('shareSignIn')
  if (code === 'nofiles') return t('shareNothing')
  return t('shareFailed', describe(new ApiError(0, code, code)))
}

export function SharePage() {
  const params = new URLSearchParams(location.search)
  const names = params.getAll('f')
  const error = params.get('error')
  const [where, setWhere] = useState(params.get('to') || INBOX)
  const [next, setNext] = useState(chosenFolder)

  async function move() {
    const target = await pickFolder(t('shareMove'), '/', t('moveHere'))
    if (target === null || target === where) return
    const moved = await moveOrCopy(names.map((name) => ({ name, path: joinPath(where, name) })), target, false)
    if (!moved) return
    choose(target)
    setNext(target)
    setWhere(target)
    const query = new URLSearchParams([['to', target], ...names.map((n) => ['f', n])])
    navigate(`/share?${query}`, { replace: true })
  }

  async function change() {
    const target = await pickFolder(t('shareTo'), '/', t('chooseHere'))
    if (target === null) return
    choose(target)
    setNext(target)
  }

  return html`<section class="page share-page" aria-labelledby="share-title" data-loaded="true">
    <h1 id="share-title">${t('shareTargetTitle')}</h1>
    ${error && html`<p class="error" role="alert">${problem(error)}</p>`}
    ${names.length > 0 && html`<div class="shared">
      <p>${t('shareSaved', names.length)} <strong><bdi class="shared-where">${where}</bdi></strong></p>
      <ul class="shared-files">${names.map((n) => html`<li key=${n}><bdi>${n}</bdi></li>`)}</ul>
      <p class="camera-actions">
        <button type="button" class="primary" onClick=${() => navigate(filesUrl(where))}>
          <${Icon} name="folder" />${t('shareOpen')}</button>
        <button type="button" onClick=${move}><${Icon} name="move" />${t('shareMove')}</button>
      </p>
    </div>`}
    <p class="destination">${t('shareTo')} <strong><bdi class="share-next">${next}</bdi></strong>
      <button type="button" onClick=${change}>${t('changeFolder')}</button></p>
    <p class="muted">${t('shareHowTo')}</p>
  </section>`
}
