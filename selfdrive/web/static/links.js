// The Links page (/links): every public link I made, with its item, its
// state (active, expired, used up, unavailable), its facts and counts; copy
// one, show its QR code, or revoke it (it stops working at once).

import { useEffect, useState } from 'preact/hooks'
import { api, describe } from './api.js'
import { Icon } from './icons.js'
import { copyLink, linkFacts, linkState, linkUrl, QrCode } from './share.js'
import { t } from './strings.js'
import { confirm, Modal, openDialog, toast } from './ui.js'
import { baseName, filesUrl, formatDate, html, navigate, parentOf } from './util.js'

function showQr(link) {
  const url = linkUrl(link)
  return openDialog((close) => html`<${Modal} title=${t('showQr')} onClose=${() => close()}>
    <div class="modal-body">
      <div class="qr-box"><${QrCode} text=${url} label=${t('qrOf', url)} /></div>
      <p class="link-text"><bdi>${url}</bdi></p>
      <div class="modal-actions"><button type="button" class="primary" onClick=${() => close()}>${t('ok')}</button></div>
    </div>
  <//>`)
}

export function LinksPage() {
  const [links, setLinks] = useState(null)
  const [error, setError] = useState('')
  const [version, setVersion] = useState(0)
  useEffect(() => {
    api('GET', '/links')
      .then((r) => setLinks(r.links.sort((a, b) => b.created_at - a.created_at)))
      .catch((err) => setError(describe(err)))
  }, [version])
  async function revoke(link) {
    const name = link.path ? baseName(link.path) : t('linkUnavailableItem')
    if (!(await confirm({ title: t('revokeLink'), text: t('confirmRevoke', name), action: t('revokeLink'), danger: true }))) return
    try {
      await api('DELETE', `/links/${link.id}`)
      toast(t('linkRevoked'))
    } catch (err) { toast(describe(err), { error: true }) }
    setVersion((v) => v + 1)
  }
  return html`<section class="page links-page" aria-labelledby="links-title">
    <header class="page-head"><h1 id="links-title">${t('linksTitle')}</h1></header>
    <p class="muted">${t('linksIntro')}</p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${!links && !error && html`<p class="muted">${t('loading')}</p>`}
    ${links && links.length === 0 && html`<p class="empty">${t('noLinks')}</p>`}
    ${links && links.length > 0 && html`<table class="table links-table">
      <thead><tr>
        <th scope="col">${t('linkItem')}</th><th scope="col">${t('linkStateCol')}</th>
        <th scope="col">${t('linkDetails')}</th><th scope="col">${t('createdAt')}</th>
        <th scope="col"><span class="visually-hidden">${t('actions')}</span></th>
      </tr></thead>
      <tbody>
        ${links.map((l) => html`<tr key=${l.id} data-link=${l.id}>
          <td>${l.path
            ? html`<a href=${filesUrl(parentOf(l.path))} class="link-item"
                onClick=${(e) => { e.preventDefault(); navigate(filesUrl(parentOf(l.path))) }}>
                <${Icon} name=${l.kind === 'folder' ? 'folder' : 'file'} /><bdi>${l.path}</bdi></a>`
            : html`<span class="muted">${t('linkUnavailableItem')}</span>`}</td>
          <td><span class=${`state state-${l.state}`}>${linkState(l)}</span></td>
          <td class="muted">${linkFacts(l)}</td>
          <td>${formatDate(l.created_at)}</td>
          <td class="row-actions">
            <button type="button" class="icon-button" aria-label=${t('copyLinkTo', l.path ? baseName(l.path) : '')}
                    title=${t('copyLink')} onClick=${() => copyLink(l)}><${Icon} name="copy" /></button>
            <button type="button" class="icon-button" aria-label=${t('qrOfItem', l.path ? baseName(l.path) : '')}
                    title=${t('showQr')} onClick=${() => showQr(l)}><${Icon} name="qr" /></button>
            <button type="button" class="danger" onClick=${() => revoke(l)}
                    aria-label=${t('revokeLinkTo', l.path ? baseName(l.path) : '')}>${t('revoke_link')}</button>
          </td>
        </tr>`)}
      </tbody>
    </table>`}
  </section>`
}
