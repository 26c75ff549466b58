// Previews without downloading: images (with previous and next), PDF drawn
// by the vendored pdf.js (loaded only here; the sandbox CSP on user content
// turns the browser's own PDF viewer off), video and audio streamed with
// seeking (Range), text and code as text. User bytes are never a page: they
// come from the download endpoints (nosniff, server-chosen type, sandbox
// CSP) and text is set as text, never as HTML.

import { useEffect, useRef, useState } from 'preact/hooks'
import { contentUrl, downloadUrl, startDownload, thumbnailUrl } from './api.js'
import { Icon } from './icons.js'
import { t } from './strings.js'
import { Modal } from './ui.js'
import { extension, filesUrl, formatSize, html, kindOf, navigate } from './util.js'

const TEXT_LIMIT = 1024 * 1024
const PDF_PAGES = 50

export function Preview({ folder, name, entry, items, loading, onClose, onDetails }) {
  const index = entry ? items.findIndex((e) => e.path === entry.path) : -1
  const kind = entry ? kindOf(entry) : ''
  const visual = (e) => ['image', 'photo'].includes(kindOf(e))
  const step = (dir) => {
    if (index < 0 || !visual(entry)) return
    for (let i = index + dir; i >= 0 && i < items.length; i += dir) {
      if (visual(items[i])) { navigate(filesUrl(folder, { preview: items[i].name }), { replace: true }); return }
    }
  }
  useEffect(() => {
    const onKey = (e) => {
      if (e.target.closest && e.target.closest('input, textarea, video, audio')) return
      if (e.key === 'ArrowLeft') { step(-1); e.preventDefault() }
      if (e.key === 'ArrowRight') { step(1); e.preventDefault() }
    }
    addEventListener('keydown', onKey)
    return () => removeEventListener('keydown', onKey)
  })
  let body
  if (!entry) body = html`<p class="muted">${loading ? t('loading') : t('errorNotFound')}</p>`
  else if (kind === 'image' || kind === 'photo') {
    const src = kind === 'photo' ? thumbnailUrl(entry.path, 1024, entry.rev) : contentUrl(entry.path, entry.rev)
    body = html`<img class="preview-image" src=${src} alt=${entry.name} />`
  } else if (kind === 'video') {
    body = html`<video class="preview-media" controls preload="metadata" src=${contentUrl(entry.path, entry.rev)}
      aria-label=${entry.name}></video>`
  } else if (kind === 'audio') {
    body = html`<audio class="preview-audio" controls preload="metadata" src=${contentUrl(entry.path, entry.rev)}
      aria-label=${entry.name}></audio>`
  } else if (kind === 'pdf') body = html`<${PdfView} entry=${entry} />`
  else if (kind === 'text' || entry.size === 0) body = html`<${TextView} entry=${entry} />`
  else body = html`<p class="muted">${t('noPreview')}</p>`
  const visualNav = entry && visual(entry)
  return html`<${Modal} title=${html`<bdi>${name}</bdi>`} onClose=${onClose} wide=${true}>
    <div class="preview" data-kind=${kind}>
      <div class="preview-tools">
        ${entry && html`<span class="muted">${formatSize(entry.size)}</span>`}
        ${entry && html`<button type="button" onClick=${() => startDownload(downloadUrl(entry.path))}>
          <${Icon} name="download" /> ${t('download')}</button>`}
        ${entry && html`<button type="button" onClick=${() => onDetails(entry)}>
          <${Icon} name="info" /> ${t('details')}</button>`}
      </div>
      <div class="preview-body">
        ${visualNav && html`<button type="button" class="icon-button nav prev" aria-label=${t('previous')}
          title=${t('previous')} onClick=${() => step(-1)}><${Icon} name="left" size=${28} /></button>`}
        ${body}
        ${visualNav && html`<button type="button" class="icon-button nav next" aria-label=${t('next')}
          title=${t('next')} onClick=${() => step(1)}><${Icon} name="right" size=${28} /></button>`}
      </div>
    </div>
  <//>`
}

function TextView({ entry }) {
  const [text, setText] = useState(null)
  const [error, setError] = useState('')
  useEffect(() => {
    const ctl = new AbortController()
    fetch(contentUrl(entry.path, entry.rev), {
      headers: entry.size > TEXT_LIMIT ? { Range: `bytes=0-${TEXT_LIMIT - 1}` } : {},
      signal: ctl.signal, credentials: 'same-origin',
    })
      .then((r) => { if (!r.ok && r.status !== 206) throw new Error(r.statusText); return r.arrayBuffer() })
      .then((buf) => setText(new TextDecoder('utf-8', { fatal: false }).decode(buf)))
      .catch((err) => { if (err.name !== 'AbortError') setError(t('errorGeneric')) })
    return () => ctl.abort()
  }, [entry.path, entry.rev])
  if (error) return html`<p class="error">${error}</p>`
  if (text === null) return html`<p class="muted">${t('loading')}</p>`
  return html`<div class="preview-text">
    ${entry.size > TEXT_LIMIT && html`<p class="muted">${t('textTruncated')}</p>`}
    <pre tabindex="0" aria-label=${entry.name} class=${`lang-${extension(entry.name)}`}>${text}</pre>
  </div>`
}

/** pdf.js, imported on first use; eval off, same-origin fetch with the cookie. */
let pdfjs = null
async function loadPdfJs() {
  if (!pdfjs) {
    pdfjs = await import('/vendor/pdfjs-dist/pdf.min.mjs')
    pdfjs.GlobalWorkerOptions.workerSrc = '/vendor/pdfjs-dist/pdf.worker.min.mjs'
  }
  return pdfjs
}

/** Where the worker finds its image decoders (JPEG 2000, JBIG2, CCITT fax, ICC
 * colour): without them such images, most scanned pages, come out blank. The
 * worker fetches them itself (useWorkerFetch); pdf.js uses the ICC one only then. */
const PDF_DECODERS = { wasmUrl: '/vendor/pdfjs-dist/wasm/', useWorkerFetch: true }

function PdfView({ entry }) {
  const box = useRef(null)
  const [state, setState] = useState({ pages: 0, shown: 0, error: '' })
  useEffect(() => {
    let cancelled = false
    let doc = null
    ;(async () => {
      try {
        const lib = await loadPdfJs()
        doc = await lib.getDocument({ url: contentUrl(entry.path, entry.rev), isEvalSupported: false,
          withCredentials: false, ...PDF_DECODERS }).promise
        const shown = Math.min(doc.numPages, PDF_PAGES)
        setState({ pages: doc.numPages, shown, error: '' })
        const width = Math.min(box.current.clientWidth || 800, 1000)
        for (let n = 1; n <= shown && !cancelled; n++) {
          const page = await doc.getPage(n)
          const unscaled = page.getViewport({ scale: 1 })
          const viewport = page.getViewport({ scale: (width / unscaled.width) * (devicePixelRatio || 1) })
          const canvas = document.createElement('canvas')
          canvas.width = viewport.width
          canvas.height = viewport.height
          canvas.setAttribute('role', 'img')
          canvas.setAttribute('aria-label', t('pdfPage', n))
          canvas.className = 'pdf-page'
          box.current.append(canvas)
          await page.render({ canvasContext: canvas.getContext('2d'), viewport }).promise
        }
      } catch (err) {
        if (!cancelled) setState((s) => ({ ...s, error: t('errorGeneric') }))
      }
    })()
    return () => { cancelled = true; if (doc) doc.destroy() }
  }, [entry.path, entry.rev])
  return html`<div class="preview-pdf">
    ${state.error ? html`<p class="error">${state.error}</p>`
      : html`<p class="muted" role="status">${state.pages ? t('pdfPages', state.shown, state.pages) : t('loading')}</p>`}
    <div ref=${box} class="pdf-pages"></div>
  </div>`
}
