// Shared pieces of the interface: a tiny observable store, dialogs (modal,
// focus kept inside, Escape closes), prompts and confirmations that return
// promises, and toasts with an optional action (Undo).

import { useEffect, useReducer, useRef, useState } from 'preact/hooks'
import { Icon } from './icons.js'
import { t } from './strings.js'
import { html } from './util.js'

export function createStore(initial) {
  let value = initial
  const subscribers = new Set()
  return {
    get: () => value,
    set(next) {
      value = typeof next === 'function' ? next(value) : next
      for (const f of subscribers) f(value)
    },
    subscribe(f) { subscribers.add(f); return () => subscribers.delete(f) },
  }
}

export function useStore(store) {
  const [, force] = useReducer((x) => x + 1, 0)
  useEffect(() => store.subscribe(force), [store])
  return store.get()
}

// -- dialogs ----------------------------------------------------------------

const dialogs = createStore(null)
let dialogId = 0

/** Show render(close) in a modal; resolves with what close() is given. */
export function openDialog(render) {
  return new Promise((resolve) => {
    const close = (result) => { dialogs.set(null); resolve(result) }
    dialogs.set({ id: ++dialogId, render, close })
  })
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])'

export function Modal({ title, onClose, children, wide }) {
  const ref = useRef(null)
  const titleId = useRef(`dialog-title-${++dialogId}`).current
  useEffect(() => {
    const before = document.activeElement
    const box = ref.current
    const first = box.querySelector('[autofocus]') || box.querySelector(FOCUSABLE)
    if (first) first.focus()
    return () => { if (before && before.focus) before.focus() }
  }, [])
  function onKeyDown(e) {
    if (e.key === 'Escape') { e.stopPropagation(); e.preventDefault(); onClose() }
    if (e.key === 'Tab') {
      const items = [...ref.current.querySelectorAll(FOCUSABLE)]
      if (!items.length) return
      const first = items[0]
      const last = items[items.length - 1]
      if (e.shiftKey && document.activeElement === first) { last.focus(); e.preventDefault() }
      else if (!e.shiftKey && document.activeElement === last) { first.focus(); e.preventDefault() }
    }
  }
  return html`<div class="backdrop" onMouseDown=${(e) => { if (e.target === e.currentTarget) onClose() }}>
    <div class=${wide ? 'modal wide' : 'modal'} role="dialog" aria-modal="true" aria-labelledby=${titleId}
         ref=${ref} onKeyDown=${onKeyDown}>
      <header class="modal-head">
        <h2 id=${titleId}>${title}</h2>
        <button type="button" class="icon-button" onClick=${() => onClose()} aria-label=${t('close')}
                title=${t('close')}><${Icon} name="close" /></button>
      </header>
      ${children}
    </div>
  </div>`
}

export function DialogHost() {
  const d = useStore(dialogs)
  if (!d) return null
  return html`<div key=${d.id}>${d.render(d.close)}</div>`
}

function PromptDialog({ title, label, initial, action, validate, close, selectStem }) {
  const [value, setValue] = useState(initial || '')
  const [error, setError] = useState('')
  const input = useRef(null)
  useEffect(() => {
    const el = input.current
    el.focus()
    const dot = selectStem ? initial.lastIndexOf('.') : -1
    el.setSelectionRange(0, dot > 0 ? dot : initial.length)
  }, [])
  function submit(e) {
    e.preventDefault()
    const v = value.trim()
    const problem = validate ? validate(v) : ''
    if (problem) { setError(problem); return }
    close(v)
  }
  return html`<${Modal} title=${title} onClose=${() => close(null)}>
    <form class="modal-body" onSubmit=${submit}>
      <label class="field"><span>${label}</span>
        <input ref=${input} value=${value} onInput=${(e) => { setValue(e.target.value); setError('') }}
               aria-invalid=${error ? 'true' : 'false'} aria-describedby="prompt-error" />
      </label>
      <p id="prompt-error" class="error" role="alert">${error}</p>
      <div class="modal-actions">
        <button type="button" onClick=${() => close(null)}>${t('cancel')}</button>
        <button type="submit" class="primary">${action}</button>
      </div>
    </form>
  <//>`
}

/** Ask for a name; resolves with it, or null when canceled. */
export function prompt(opts) {
  return openDialog((close) => html`<${PromptDialog} ...${opts} close=${close} />`)
}

/** Ask yes or no; resolves true or false. */
export function confirm({ title, text, action, danger }) {
  return openDialog((close) => html`<${Modal} title=${title} onClose=${() => close(false)}>
    <div class="modal-body">
      <p>${text}</p>
      <div class="modal-actions">
        <button type="button" onClick=${() => close(false)}>${t('cancel')}</button>
        <button type="button" class=${danger ? 'danger' : 'primary'} autofocus
                onClick=${() => close(true)}>${action}</button>
      </div>
    </div>
  <//>`)
}

/** A name check shared by rename, new folder and the server's own rules. */
export function checkName(name) {
  if (!name) return t('errorInvalidName')
  if (name === '.' || name === '..' || name.includes('/') || name.includes('\\')) return t('errorInvalidName')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return t('errorInvalidName')
  if (new TextEncoder().encode(name).length > 255) return t('errorInvalidName')
  return ''
}

// -- toasts -----------------------------------------------------------------

const toasts = createStore([])
let toastId = 0

/** Show a short message; action is {label, run} (Undo). */
export function toast(text, { action, error, ms = 6000 } = {}) {
  const id = ++toastId
  toasts.set((list) => [...list.slice(-3), { id, text, action, error }])
  setTimeout(() => dismiss(id), ms)
  return id
}
function dismiss(id) { toasts.set((list) => list.filter((x) => x.id !== id)) }

export function Toasts() {
  const list = useStore(toasts)
  return html`<div class="toasts" role="status" aria-live="polite">
    ${list.map((x) => html`<div key=${x.id} class=${x.error ? 'toast error' : 'toast'}>
      <span>${x.text}</span>
      ${x.action && html`<button type="button" class="link" onClick=${() => { dismiss(x.id); x.action.run() }}>
        ${x.action.label}</button>`}
      <button type="button" class="icon-button" aria-label=${t('close')} onClick=${() => dismiss(x.id)}>
        <${Icon} name="close" size=${16} /></button>
    </div>`)}
  </div>`
}
