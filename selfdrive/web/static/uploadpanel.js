// The upload panel: each file's progress, speed and time left, with pause,
// resume, cancel and retry; a summary line and bulk buttons on top. Only the
// first rows are drawn when a folder of thousands of files is uploading.

import * as up from './uploads.js'
import { Icon } from './icons.js'
import { t } from './strings.js'
import { useStore } from './ui.js'
import { formatDuration, formatSize, html } from './util.js'

const SHOWN = 200

export function UploadPanel() {
  const { tasks, collapsed } = useStore(up.uploads)
  if (!tasks.length) return null
  const total = tasks.filter((x) => !['canceled', 'skipped'].includes(x.state))
  const done = total.filter((x) => x.state === 'done').length
  const bytes = total.reduce((a, x) => a + x.size, 0)
  const sent = total.reduce((a, x) => a + x.sent, 0)
  const pct = bytes ? Math.floor((sent * 100) / bytes) : (done === total.length ? 100 : 0)
  const active = tasks.some((x) => x.state === 'uploading' || x.state === 'queued')
  const paused = tasks.some((x) => x.state === 'paused')
  // Unfinished first, so the panel shows what still needs attention.
  const order = { error: 0, uploading: 1, paused: 2, queued: 3, done: 4, canceled: 5, skipped: 6 }
  const rows = [...tasks].sort((a, b) => order[a.state] - order[b.state] || a.id - b.id)
  return html`<aside class=${collapsed ? 'uploads collapsed' : 'uploads'} aria-labelledby="uploads-title">
    <header>
      <h2 id="uploads-title">${t('uploadsTitle')}</h2>
      <span class="summary" role="status">${done === total.length ? t('uploadsAllDone', done) : t('uploadsSummary', done, total.length, pct)}</span>
      ${active && html`<button type="button" class="icon-button" aria-label=${t('pauseAll')} title=${t('pauseAll')}
        onClick=${up.pauseAll}><${Icon} name="pause" /></button>`}
      ${paused && html`<button type="button" class="icon-button" aria-label=${t('resumeAll')} title=${t('resumeAll')}
        onClick=${up.resumeAll}><${Icon} name="play" /></button>`}
      <button type="button" class="icon-button" aria-label=${t('clearFinished')} title=${t('clearFinished')}
        onClick=${up.clearFinished}><${Icon} name="check" /></button>
      <button type="button" class="icon-button" aria-expanded=${collapsed ? 'false' : 'true'}
        aria-label=${collapsed ? t('expand') : t('collapse')} title=${collapsed ? t('expand') : t('collapse')}
        onClick=${() => up.setCollapsed(!collapsed)}><${Icon} name=${collapsed ? 'chevronUp' : 'chevronDown'} /></button>
    </header>
    ${!collapsed && html`<ul class="upload-list">
      ${rows.slice(0, SHOWN).map((x) => html`<${Row} key=${x.id} task=${x} />`)}
      ${rows.length > SHOWN && html`<li class="muted">${t('moreUploads', rows.length - SHOWN)}</li>`}
    </ul>`}
  </aside>`
}

function Row({ task }) {
  const stateText = {
    queued: t('queued'), paused: t('paused'), done: t('done'), error: task.error || t('failed'),
    canceled: t('canceled'), skipped: t('skipped'),
  }[task.state]
  const detail = task.state === 'uploading'
    ? task.error || [
      `${formatSize(task.sent)} / ${formatSize(task.size)}`,
      task.speed ? `${formatSize(task.speed)}/s` : '',
      isFinite(task.eta) && task.speed ? t('timeLeft', formatDuration(task.eta)) : '',
    ].filter(Boolean).join(' · ')
    : stateText
  return html`<li class=${`upload state-${task.state}`} data-name=${task.name}>
    <div class="upload-name"><bdi>${task.name}</bdi></div>
    <progress max=${task.size || 1} value=${task.state === 'done' ? task.size || 1 : task.sent}
              aria-label=${t('progressOf', task.name)}></progress>
    <div class="upload-detail">${detail}</div>
    <div class="upload-actions">
      ${task.state === 'uploading' && html`<button type="button" class="icon-button" aria-label=${`${t('pause')} ${task.name}`}
          title=${t('pause')} onClick=${() => up.pause(task.id)}><${Icon} name="pause" size=${16} /></button>`}
      ${task.state === 'paused' && html`<button type="button" class="icon-button" aria-label=${`${t('resume')} ${task.name}`}
          title=${t('resume')} onClick=${() => up.resume(task.id)}><${Icon} name="play" size=${16} /></button>`}
      ${task.state === 'error' && html`<button type="button" class="icon-button" aria-label=${`${t('retryUpload')} ${task.name}`}
          title=${t('retryUpload')} onClick=${() => up.retry(task.id)}><${Icon} name="retry" size=${16} /></button>`}
      ${['uploading', 'paused', 'queued', 'error'].includes(task.state) && html`<button type="button" class="icon-button"
          aria-label=${`${t('cancelUpload')} ${task.name}`} title=${t('cancelUpload')}
          onClick=${() => up.cancel(task.id)}><${Icon} name="close" size=${16} /></button>`}
    </div>
  </li>`
}
