// The file browser: breadcrumbs, a toolbar, the listing (list or grid,
// sorted, only the visible rows in the DOM), selection with the mouse,
// keyboard and touch, drag and drop (files from the desktop upload; rows
// dragged onto a folder or a breadcrumb move), search as you type, and the
// preview and details panels, whose state lives in the URL.

import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks'
import * as act from './actions.js'
import { api, describe, listFolder, thumbnailUrl } from './api.js'
import { Details } from './details.js'
import { Icon } from './icons.js'
import { changed, ready } from './live.js'
import { Preview } from './preview.js'
import { inShare, openShare, SHARED_ROOT } from './share.js'
import { t } from './strings.js'
import { landed, fromDrop, fromInput, uploadInto } from './uploads.js'
import { toast } from './ui.js'
import {
  baseName, classes, collator, filesUrl, formatDate, formatSize, hasThumbnail, html, joinPath,
  kindOf, navigate, parentOf, segments,
} from './util.js'

const INTERNAL = 'application/x-selfdrive-paths'
const OVERSCAN = 8
const LONG_PRESS_MS = 500

const touchScreen = matchMedia('(pointer: coarse)')

function rowHeight(mode) {
  if (mode === 'grid') return touchScreen.matches ? 172 : 188
  return touchScreen.matches ? 56 : 44
}

function saved(key, fallback) {
  try { return JSON.parse(localStorage.getItem(`selfdrive.${key}`)) ?? fallback } catch { return fallback }
}
function save(key, value) {
  try { localStorage.setItem(`selfdrive.${key}`, JSON.stringify(value)) } catch { /* private mode */ }
}

function compare(sort) {
  return (a, b) => {
    if (a.kind !== b.kind) return a.kind === 'folder' ? -1 : 1
    let c = 0
    if (sort.key === 'size') c = a.size - b.size
    else if (sort.key === 'modified') c = a.modified - b.modified
    if (c === 0) c = collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    return c * sort.dir
  }
}

let early = null

/**
 * Ask for a folder's first page as the app starts, beside the session check
 * (after the feed's cursor, as every listing), so that the view finds it
 * waiting instead of asking once it is drawn.
 */
export function prefetchListing(path) {
  const page = ready.then(() => api('GET', '/files/list', { query: { path, limit: 300 }, quiet401: true }))
  page.catch(() => {})
  early = { path, page }
}

function takeEarly(path) {
  const found = early && early.path === path ? early.page : null
  early = null
  return found
}

function useListing(path, q, reloadKey) {
  const [state, setState] = useState({ key: '', folder: null, entries: [], loading: true, more: false, error: '' })
  useEffect(() => {
    const ctl = new AbortController()
    const key = `${path}\u0000${q}`
    setState((s) => (s.key === key ? { ...s, loading: true } : { key, folder: null, entries: [], loading: true, more: false, error: '' }))
    const fail = (err) => {
      if (err.name !== 'AbortError') setState((s) => ({ ...s, loading: false, error: describe(err) }))
    }
    if (q) {
      const timer = setTimeout(() => {
        api('GET', '/files/search', { query: { path, q, limit: 500 }, signal: ctl.signal })
          .then((r) => setState({ key, folder: null, entries: r.entries, loading: false,
            more: Boolean(r.next_after || r.has_more), error: '' }))
          .catch(fail)
      }, 150)
      return () => { clearTimeout(timer); ctl.abort() }
    }
    const first = takeEarly(path)
    ready.then(() => listFolder(path, {
      first,
      signal: ctl.signal,
      onPage: (folder, entries, more) => setState({ key, folder, entries, loading: more, more, error: '' }),
    })).catch(fail)
    return () => ctl.abort()
  }, [path, q, reloadKey])
  return state
}

export function FilesView({ route, onChanged }) {
  const { path, preview, q } = route
  const [reloadKey, setReloadKey] = useState(0)
  const reload = useCallback(() => { setReloadKey((k) => k + 1); onChanged() }, [onChanged])
  const listing = useListing(path, q, reloadKey)
  const [sort, setSortState] = useState(() => saved('sort', { key: 'name', dir: 1 }))
  const [mode, setModeState] = useState(() => saved('mode', 'list'))
  const [selected, setSelected] = useState(() => new Set())
  const [anchor, setAnchor] = useState(-1)
  const [focus, setFocus] = useState(0)
  const [renaming, setRenaming] = useState(null)
  const [details, setDetails] = useState(null)
  const [dropping, setDropping] = useState(false)
  const [menu, setMenu] = useState(null)
  const fileInput = useRef(null)
  const folderInput = useRef(null)
  const searchInput = useRef(null)
  const [searchText, setSearchText] = useState(q)

  const setSort = (s) => { setSortState(s); save('sort', s) }
  const setMode = (m) => { setModeState(m); save('mode', m) }

  const items = useMemo(() => [...listing.entries].sort(compare(sort)), [listing.entries, sort])
  const byName = useMemo(() => new Map(listing.entries.map((e) => [e.name, e])), [listing.entries])
  // What the caller may do here: the listing says (owner, editor, viewer);
  // in a share, no write is offered until it has said so.
  const role = listing.folder ? listing.folder.role : (inShare(path) ? null : 'owner')
  const readOnly = role !== 'owner' && role !== 'editor'
  // A search's matches say their own role (they may lie in any share).
  const canModify = (e) => e.path !== SHARED_ROOT && (e.role
    ? e.role === 'owner' || e.role === 'editor'
    : !readOnly && !(q && inShare(e.path)))
  const withRole = (e) => (e.role ? e : {
    ...e, role: q ? (inShare(e.path) ? undefined : 'owner') : role,
    owner: listing.folder ? listing.folder.owner : undefined,
  })
  const share = (e) => openShare(withRole(e), { onChanged: reload })

  // A new folder or search starts with nothing selected.
  useEffect(() => { setSelected(new Set()); setAnchor(-1); setFocus(0); setRenaming(null) }, [path, q])
  useEffect(() => { setSearchText(q) }, [q])
  // Another device or person changed this folder: list it again (debounced).
  useEffect(() => {
    let timer = 0
    const onChanged = (e) => {
      if (q || !e.detail.has(path)) return
      clearTimeout(timer)
      timer = setTimeout(() => setReloadKey((k) => k + 1), 300)
    }
    changed.addEventListener('changed', onChanged)
    return () => { clearTimeout(timer); changed.removeEventListener('changed', onChanged) }
  }, [path, q])
  useEffect(() => {
    const onLanded = (e) => { if (e.detail === path) reload() }
    landed.addEventListener('landed', onLanded)
    return () => landed.removeEventListener('landed', onLanded)
  }, [path, reload])

  const chosen = items.filter((e) => selected.has(e.path))
  const targets = (entry) => (entry && !selected.has(entry.path) ? [entry] : chosen)

  function open(entry) {
    if (entry.kind === 'folder') navigate(filesUrl(entry.path))
    else navigate(filesUrl(parentOf(entry.path), { preview: entry.name }))
  }

  function select(index, { toggle = false, range = false } = {}) {
    const entry = items[index]
    if (!entry) return
    setFocus(index)
    if (range && anchor >= 0) {
      const [a, b] = anchor < index ? [anchor, index] : [index, anchor]
      const next = toggle ? new Set(selected) : new Set()
      for (let i = a; i <= b; i++) next.add(items[i].path)
      setSelected(next)
      return
    }
    setAnchor(index)
    if (toggle) {
      const next = new Set(selected)
      if (next.has(entry.path)) next.delete(entry.path)
      else next.add(entry.path)
      setSelected(next)
    } else setSelected(new Set([entry.path]))
  }

  async function uploadFiles(what, folder = path) {
    const existing = folder === path && !q ? byName : await namesIn(folder)
    const n = await uploadInto(folder, what, existing, act.askClash)
    return n
  }

  async function onExternalDrop(e, folder) {
    e.preventDefault()
    e.stopPropagation()
    setDropping(false)
    const what = await fromDrop(e.dataTransfer)
    if (what.files.length || what.folders.length) uploadFiles(what, folder)
  }

  function onInternalDrop(e, folder) {
    e.preventDefault()
    e.stopPropagation()
    let paths = []
    try { paths = JSON.parse(e.dataTransfer.getData(INTERNAL)) } catch { return }
    const moving = paths.map((p) => items.find((x) => x.path === p) || { path: p, name: baseName(p) })
    act.moveOrCopy(moving, folder, false).then((n) => { if (n) reload() })
  }

  function folderDropProps(folder) {
    if (readOnly) return {}
    return {
      onDragOver(e) {
        const types = [...e.dataTransfer.types]
        if (types.includes(INTERNAL) || types.includes('Files')) {
          e.preventDefault()
          e.stopPropagation()
          e.dataTransfer.dropEffect = types.includes(INTERNAL) ? 'move' : 'copy'
          e.currentTarget.classList.add('drop-target')
        }
      },
      onDragLeave(e) { e.currentTarget.classList.remove('drop-target') },
      onDrop(e) {
        e.currentTarget.classList.remove('drop-target')
        if ([...e.dataTransfer.types].includes(INTERNAL)) onInternalDrop(e, folder)
        else onExternalDrop(e, folder)
      },
    }
  }

  // Files dragged in from the desktop anywhere on the page upload here.
  useEffect(() => {
    let depth = 0
    const isFiles = (e) => !readOnly && [...(e.dataTransfer?.types || [])].includes('Files') &&
      ![...(e.dataTransfer?.types || [])].includes(INTERNAL)
    const enter = (e) => { if (isFiles(e)) { depth++; setDropping(true) } }
    const leave = (e) => { if (isFiles(e) && --depth <= 0) { depth = 0; setDropping(false) } }
    const over = (e) => { if (isFiles(e)) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy' } }
    const drop = (e) => { depth = 0; if (isFiles(e)) onExternalDrop(e, path) }
    addEventListener('dragenter', enter)
    addEventListener('dragleave', leave)
    addEventListener('dragover', over)
    addEventListener('drop', drop)
    return () => {
      removeEventListener('dragenter', enter)
      removeEventListener('dragleave', leave)
      removeEventListener('dragover', over)
      removeEventListener('drop', drop)
    }
  })

  // Keyboard shortcuts (docs/web.md; `?` shows them). The listener stays;
  // the handler is this render's, so a key pressed before the effects of a
  // new render have run (a listing that just arrived) sees the new items.
  const onKey = useRef(null)
  useEffect(() => {
    const listener = (e) => onKey.current(e)
    addEventListener('keydown', listener)
    return () => removeEventListener('keydown', listener)
  }, [])
  onKey.current = (e) => {
    if (document.querySelector('.backdrop') || preview || e.defaultPrevented) return
    const typing = e.target.closest && e.target.closest('input, textarea, select, [contenteditable]')
    if (typing) {
      if (e.key === 'Escape' && e.target === searchInput.current) { clearSearch(); e.target.blur() }
      return
    }
    const mod = e.ctrlKey || e.metaKey
    const current = items[focus]
    const step = mode === 'grid' ? gridCols.current : 1
    const moveTo = (i) => {
      const next = Math.max(0, Math.min(items.length - 1, i))
      if (e.shiftKey) select(next, { range: true })
      else setFocus(next)
      e.preventDefault()
    }
    if (e.key === 'ArrowDown') moveTo(focus + step)
    else if (e.key === 'ArrowUp' && e.altKey) { goUp(); e.preventDefault() }
    else if (e.key === 'ArrowUp') moveTo(focus - step)
    else if (e.key === 'ArrowRight' && mode === 'grid') moveTo(focus + 1)
    else if (e.key === 'ArrowLeft' && mode === 'grid') moveTo(focus - 1)
    else if (e.key === 'Home') moveTo(0)
    else if (e.key === 'End') moveTo(items.length - 1)
    else if (e.key === ' ' && current && !e.target.closest('button')) { select(focus, { toggle: true }); e.preventDefault() }
    else if (e.key === 'Enter' && current && !e.target.closest('button, a')) { open(current); e.preventDefault() }
    else if (mod && e.key.toLowerCase() === 'a') { setSelected(new Set(items.map((x) => x.path))); e.preventDefault() }
    else if (e.key === 'Escape') { setSelected(new Set()); setMenu(null) }
    else if (e.key === 'F2' && current && canModify(current)) { setRenaming(current.path); e.preventDefault() }
    else if ((e.key === 'Delete' || (e.key === 'Backspace' && mod)) && (chosen.length || current) &&
      (chosen.length ? chosen : [current]).every(canModify)) {
      act.remove(chosen.length ? chosen : [current], afterRemove); e.preventDefault()
    } else if (e.key === 'Backspace') { goUp(); e.preventDefault() }
    else if (e.key === '?') { act.showShortcuts(); e.preventDefault() }
    else if (e.key.toLowerCase() === 's' && !mod && !e.altKey && (chosen.length === 1 || (!chosen.length && current)) &&
      (chosen[0] || current).path !== SHARED_ROOT) { share(chosen[0] || current); e.preventDefault() }
    else if (e.key === '/') { searchInput.current.focus(); e.preventDefault() }
    else if (e.key === 'N' && e.shiftKey && !readOnly) { makeFolder(); e.preventDefault() }
    else if (e.key.toLowerCase() === 'u' && !mod && !readOnly) { fileInput.current.click(); e.preventDefault() }
  }

  function afterRemove() { setSelected(new Set()); reload() }
  function goUp() { if (path !== '/') navigate(filesUrl(parentOf(path))) }
  async function makeFolder() {
    if (await act.newFolder(path, new Set(byName.keys()))) reload()
  }
  function onSearch(e) {
    const text = e.target.value
    setSearchText(text)
    navigate(filesUrl(path, { q: text.trim() }), { replace: Boolean(q) })
  }
  function clearSearch() { setSearchText(''); navigate(filesUrl(path), { replace: true }) }

  const gridCols = useRef(1)
  const previewEntry = preview ? byName.get(preview) : null

  return html`<section class=${classes('files', dropping && 'dropping')} aria-labelledby="files-title"
      data-loaded=${listing.loading ? 'false' : 'true'}>
    <header class="toolbar">
      <${Breadcrumbs} path=${path} dropProps=${folderDropProps} />
      <div class="toolbar-actions">
        <label class="search">
          <${Icon} name="search" />
          <input ref=${searchInput} type="search" value=${searchText} onInput=${onSearch}
                 placeholder=${t('search')} aria-label=${t('searchIn', path === '/' ? t('home') : baseName(path))} />
        </label>
        ${!readOnly && html`<button type="button" class="tool" onClick=${() => fileInput.current.click()} title=${t('uploadFiles')}>
          <${Icon} name="upload" /><span class="label">${t('uploadFiles')}</span></button>
        <button type="button" class="tool" onClick=${() => folderInput.current.click()} title=${t('uploadFolder')}>
          <${Icon} name="uploadFolder" /><span class="label">${t('uploadFolder')}</span></button>
        <button type="button" class="tool" onClick=${makeFolder} title=${t('newFolder')}>
          <${Icon} name="newFolder" /><span class="label">${t('newFolder')}</span></button>`}
        <${SortControl} sort=${sort} setSort=${setSort} />
        <button type="button" class="icon-button" aria-pressed=${mode === 'grid' ? 'true' : 'false'}
                aria-label=${mode === 'grid' ? t('listView') : t('gridView')}
                title=${mode === 'grid' ? t('listView') : t('gridView')}
                onClick=${() => setMode(mode === 'grid' ? 'list' : 'grid')}>
          <${Icon} name=${mode === 'grid' ? 'list' : 'grid'} /></button>
        <button type="button" class="icon-button keys-button" aria-label=${t('shortcuts')}
                title=${t('shortcuts')} onClick=${act.showShortcuts}><${Icon} name="keyboard" /></button>
      </div>
      <input ref=${fileInput} type="file" multiple hidden aria-label=${t('uploadFiles')}
             onChange=${(e) => { uploadFiles({ files: fromInput(e.target.files) }); e.target.value = '' }} />
      <input ref=${folderInput} type="file" webkitdirectory multiple hidden aria-label=${t('uploadFolder')}
             onChange=${(e) => { uploadFiles({ files: fromInput(e.target.files) }); e.target.value = '' }} />
    </header>
    <h1 id="files-title" class="visually-hidden">${q ? t('searchResults', items.length, q, listing.more) : (path === '/' ? t('home') : baseName(path))}</h1>
    ${chosen.length > 0 && html`<${SelectionBar} chosen=${chosen} path=${path} reload=${reload}
        writable=${chosen.every(canModify)} onShare=${share}
        clear=${() => setSelected(new Set())} />`}
    ${listing.error && html`<p class="error banner" role="alert">${listing.error}
      <button type="button" onClick=${reload}>${t('retry')}</button></p>`}
    <div class="listing-status" role="status" aria-live="polite">
      ${q ? t('searchResults', items.length, q, listing.more)
        : listing.loading && items.length ? t('loadingMore', items.length)
          : !listing.loading && !listing.error ? t('folderCount', items.length) : ''}
    </div>
    ${mode === 'list' && html`<div class="list-head" aria-hidden="true">
      <span></span><span></span><span>${t('colName')}</span><span class="size">${t('colSize')}</span>
      <span class="date">${t('colModified')}</span><span></span></div>`}
    <${VirtualList} items=${items} mode=${mode} focus=${focus} gridCols=${gridCols}
      empty=${listing.loading ? t('loading') : q ? t('noResults') : t('emptyFolder')}
      renderItem=${(entry, index) => html`<${Item} key=${entry.path} entry=${entry} index=${index}
        mode=${mode} searching=${Boolean(q)} selected=${selected.has(entry.path)} focused=${index === focus}
        renaming=${renaming === entry.path} selecting=${selected.size > 0}
        onSelect=${select} onOpen=${open}
        onMenu=${(e) => setMenu({ entry, x: e.clientX, y: e.clientY, anchor: e.currentTarget })}
        onRename=${async (name) => { setRenaming(null); if (await act.rename(entry, name)) reload() }}
        onDragStart=${(e) => {
          const paths = selected.has(entry.path) ? [...selected] : [entry.path]
          e.dataTransfer.setData(INTERNAL, JSON.stringify(paths))
          e.dataTransfer.setData('text/plain', paths.join('\n'))
          e.dataTransfer.effectAllowed = 'move'
        }}
        dropProps=${entry.kind === 'folder' ? folderDropProps(entry.path) : {}} />`} />
    ${menu && html`<${Menu} menu=${menu} close=${() => setMenu(null)} actions=${[
      [t('open'), () => open(menu.entry)],
      [t('download'), () => act.download(targets(menu.entry), path)],
      ...(menu.entry.path !== SHARED_ROOT ? [[t('shareEllipsis'), () => share(menu.entry)]] : []),
      ...(canModify(menu.entry) ? [
        [t('rename'), () => setRenaming(menu.entry.path)],
        [t('moveTo'), () => act.pickAndMove(targets(menu.entry), false, path).then((n) => n && reload())],
      ] : []),
      [t('copyTo'), () => act.pickAndMove(targets(menu.entry), true, path).then((n) => n && reload())],
      [menu.entry.kind === 'file' ? t('details') : t('folderDetails'), () => setDetails(withRole(menu.entry))],
      ...(canModify(menu.entry) ? [[t('delete'), () => act.remove(targets(menu.entry), afterRemove)]] : []),
    ]} />`}
    ${dropping && html`<div class="drop-overlay" aria-hidden="true">
      <div><${Icon} name="upload" size=${48} /><p><bdi>${t('dropHere', path === '/' ? t('home') : baseName(path))}</bdi></p></div></div>`}
    ${preview && html`<${Preview} folder=${path} name=${preview} entry=${previewEntry}
      loading=${listing.loading && !previewEntry}
      items=${items.filter((e) => e.kind === 'file')}
      onDetails=${(e) => setDetails(withRole(e))}
      onClose=${() => navigate(filesUrl(path, { q }))} />`}
    ${details && html`<${Details} entry=${details} onClose=${() => setDetails(null)} onChanged=${reload} />`}
  </section>`
}

async function namesIn(folder) {
  try {
    const { entries } = await listFolder(folder, {})
    return new Map(entries.map((e) => [e.name, e]))
  } catch { return new Map() }
}

function Breadcrumbs({ path, dropProps }) {
  const parts = segments(path)
  let acc = '/'
  const crumbs = [{ name: t('home'), path: '/' }]
  for (const p of parts) { acc = joinPath(acc, p); crumbs.push({ name: p, path: acc }) }
  return html`<nav class="breadcrumbs" aria-label=${t('breadcrumbs')}><ol>
    ${crumbs.map((c, i) => html`<li key=${c.path} ...${dropProps(c.path)}>
      ${i === crumbs.length - 1
        ? html`<span aria-current="page"><bdi>${c.name}</bdi></span>`
        : html`<a href=${filesUrl(c.path)} onClick=${(e) => { e.preventDefault(); navigate(filesUrl(c.path)) }}>
            <bdi>${c.name}</bdi></a>`}
    </li>`)}
  </ol></nav>`
}

function SortControl({ sort, setSort }) {
  const options = [['name', t('sortName')], ['size', t('sortSize')], ['modified', t('sortModified')]]
  return html`<span class="sort">
    <select aria-label=${t('sortBy')} value=${sort.key}
            onChange=${(e) => setSort({ key: e.target.value, dir: sort.dir })}>
      ${options.map(([k, label]) => html`<option value=${k}>${label}</option>`)}
    </select>
    <button type="button" class="icon-button" aria-label=${`${t('sortBy')}: ${sort.dir > 0 ? t('ascending') : t('descending')}`}
            title=${sort.dir > 0 ? t('ascending') : t('descending')}
            onClick=${() => setSort({ key: sort.key, dir: -sort.dir })}>
      <${Icon} name=${sort.dir > 0 ? 'chevronUp' : 'chevronDown'} /></button>
  </span>`
}

function SelectionBar({ chosen, path, reload, clear, writable = true, onShare }) {
  return html`<div class="selection-bar" role="toolbar" aria-label=${t('selectedCount', chosen.length)}>
    <span class="count">${t('selectedCount', chosen.length)}</span>
    <button type="button" onClick=${() => act.download(chosen, path)}>
      <${Icon} name="download" /><span class="label">${chosen.length === 1 && chosen[0].kind === 'file' ? t('download') : t('downloadZip')}</span></button>
    ${onShare && chosen.length === 1 && chosen[0].path !== SHARED_ROOT && html`<button type="button" onClick=${() => onShare(chosen[0])}>
      <${Icon} name="shared" /><span class="label">${t('share')}</span></button>`}
    ${writable && html`<button type="button" onClick=${() => act.pickAndMove(chosen, false, path).then((n) => { if (n) { clear(); reload() } })}>
      <${Icon} name="move" /><span class="label">${t('move')}</span></button>`}
    <button type="button" onClick=${() => act.pickAndMove(chosen, true, path).then((n) => { if (n) reload() })}>
      <${Icon} name="copy" /><span class="label">${t('copy')}</span></button>
    ${writable && html`<button type="button" class="danger" onClick=${() => act.remove(chosen, () => { clear(); reload() })}>
      <${Icon} name="trash" /><span class="label">${t('delete')}</span></button>`}
    <button type="button" class="icon-button" aria-label=${t('clearSelection')} title=${t('clearSelection')}
            onClick=${clear}><${Icon} name="close" /></button>
  </div>`
}

/** Only the rows in view (plus a few) are in the DOM, whatever the folder's size. */
function VirtualList({ items, mode, focus, renderItem, empty, gridCols }) {
  const box = useRef(null)
  const [view, setView] = useState({ top: 0, height: 800, width: 800 })
  useLayoutEffect(() => {
    const el = box.current
    const measure = () => setView({ top: el.scrollTop, height: el.clientHeight, width: el.clientWidth })
    measure()
    const ro = new ResizeObserver(measure)
    ro.observe(el)
    return () => ro.disconnect()
  }, [])
  const height = rowHeight(mode)
  const cols = mode === 'grid' ? Math.max(1, Math.floor(view.width / (touchScreen.matches ? 140 : 172))) : 1
  gridCols.current = cols
  const rows = Math.ceil(items.length / cols)
  const first = Math.max(0, Math.floor(view.top / height) - OVERSCAN)
  const last = Math.min(rows, Math.ceil((view.top + view.height) / height) + OVERSCAN)

  // Keep the focused item in view, and give it the keyboard focus.
  useEffect(() => {
    const el = box.current
    if (!el || !items.length) return
    const row = Math.floor(focus / cols)
    if (row * height < el.scrollTop) el.scrollTop = row * height
    else if ((row + 1) * height > el.scrollTop + el.clientHeight) el.scrollTop = (row + 1) * height - el.clientHeight
    requestAnimationFrame(() => {
      const active = document.activeElement
      if (active && active !== document.body && !el.contains(active)) return
      const target = el.querySelector(`[data-index="${focus}"] .name-button`)
      if (target && target !== active) target.focus({ preventScroll: true })
    })
  }, [focus])

  const shown = []
  for (let r = first; r < last; r++) {
    const cells = []
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c
      if (i < items.length) cells.push(renderItem(items[i], i))
    }
    shown.push(mode === 'grid' ? html`<div class="grid-row" key=${r} role="presentation">${cells}</div>` : cells)
  }
  return html`<div class=${`listing ${mode}`} ref=${box} tabindex="-1"
      onScroll=${(e) => setView((v) => ({ ...v, top: e.currentTarget.scrollTop }))}>
    ${items.length === 0 ? html`<p class="empty">${empty}</p>` : html`
    <div role="list" aria-label=${t('files')}
         style=${{ height: `${rows * height}px`, position: 'relative' }}>
      <div style=${{ transform: `translateY(${first * height}px)` }} role="presentation">${shown}</div>
    </div>`}
  </div>`
}

function Item({ entry, index, mode, searching, selected, focused, renaming, selecting, onSelect, onOpen,
  onMenu, onRename, onDragStart, dropProps }) {
  const kind = kindOf(entry)
  const press = useRef({ timer: 0, long: false })
  function onPointerDown(e) {
    if (e.pointerType !== 'touch') return
    press.current.long = false
    press.current.timer = setTimeout(() => {
      press.current.long = true
      onSelect(index, { toggle: true })
      if (navigator.vibrate) navigator.vibrate(20)
    }, LONG_PRESS_MS)
  }
  const endPress = () => clearTimeout(press.current.timer)
  function onClick(e) {
    if (e.target.closest('input, .more')) return
    if (press.current.long) { press.current.long = false; e.preventDefault(); return }
    const touch = touchScreen.matches
    if (touch && !selecting) { onOpen(entry); e.preventDefault(); return }
    if (e.target.closest('.name-button') && !(e.ctrlKey || e.metaKey || e.shiftKey) && !touch) {
      onOpen(entry); e.preventDefault(); return
    }
    onSelect(index, { toggle: e.ctrlKey || e.metaKey || touch, range: e.shiftKey })
    e.preventDefault()
  }
  const picture = hasThumbnail(entry)
    ? html`<img class="thumb" alt="" loading="lazy" decoding="async" draggable="false"
        src=${thumbnailUrl(entry.path, mode === 'grid' ? 256 : 64, entry.rev)}
        onError=${(e) => { e.currentTarget.hidden = true }} />`
    : null
  return html`<div class=${classes('item', selected && 'selected', focused && 'focused', `kind-${kind}`)}
      role="listitem" data-index=${index} draggable=${renaming ? 'false' : 'true'}
      onClick=${onClick}
      onDblClick=${(e) => { if (!e.target.closest('input, button.more')) onOpen(entry) }}
      onContextMenu=${(e) => { e.preventDefault(); if (!selected) onSelect(index); onMenu(e) }}
      onPointerDown=${onPointerDown} onPointerUp=${endPress} onPointerCancel=${endPress}
      onPointerMove=${endPress} onDragStart=${onDragStart} ...${dropProps}>
    <input type="checkbox" class="pick" checked=${selected} tabindex="-1"
           aria-label=${t('selectItem', entry.name)}
           onChange=${(e) => onSelect(index, { toggle: true, range: e.shiftKey })} />
    <span class="visual"><${Icon} name=${kind} size=${mode === 'grid' ? 56 : 22} />${picture}
      ${(entry.shared || entry.linked) && html`<span class="share-mark"><${Icon} name=${entry.shared ? 'shared' : 'link'}
        size=${14} label=${entry.shared ? t('sharedMark') : t('linkedMark')} /></span>`}</span>
    ${renaming
      ? html`<${RenameInput} entry=${entry} onDone=${onRename} />`
      : html`<button type="button" class="name-button" tabindex=${focused ? 0 : -1}>
          <bdi class="name">${entry.name}</bdi>
          ${entry.owner && !searching && html`<span class="where owner-mark"><bdi>${t('sharedBy', entry.owner)}</bdi></span>`}
          ${searching && html`<span class="where"><bdi>${parentOf(entry.path)}</bdi></span>`}
        </button>`}
    <span class="size">${entry.kind === 'file' ? formatSize(entry.size) : ''}</span>
    <span class="date">${formatDate(entry.modified)}</span>
    <button type="button" class="icon-button more" aria-label=${t('actionsFor', entry.name)}
            aria-haspopup="menu" onClick=${(e) => { e.stopPropagation(); onMenu(e) }}>
      <${Icon} name="more" /></button>
  </div>`
}

function RenameInput({ entry, onDone }) {
  const ref = useRef(null)
  const done = useRef(false)
  useEffect(() => {
    const el = ref.current
    el.focus()
    const dot = entry.kind === 'file' ? entry.name.lastIndexOf('.') : -1
    el.setSelectionRange(0, dot > 0 ? dot : entry.name.length)
  }, [])
  const finish = (value) => { if (!done.current) { done.current = true; onDone(value) } }
  return html`<input ref=${ref} class="rename" defaultValue=${entry.name}
    aria-label=${t('renameLabel', entry.name)}
    onKeyDown=${(e) => {
      e.stopPropagation()
      if (e.key === 'Enter') finish(e.currentTarget.value.trim())
      if (e.key === 'Escape') finish(null)
    }}
    onBlur=${(e) => finish(e.currentTarget.value.trim())}
    onClick=${(e) => e.stopPropagation()} />`
}

function Menu({ menu, actions, close }) {
  const ref = useRef(null)
  useEffect(() => {
    const el = ref.current
    el.querySelector('button').focus()
    const away = (e) => { if (!el.contains(e.target)) close() }
    setTimeout(() => addEventListener('pointerdown', away), 0)
    return () => removeEventListener('pointerdown', away)
  }, [])
  const rect = menu.anchor && menu.anchor.getBoundingClientRect ? menu.anchor.getBoundingClientRect() : null
  const x = Math.min(innerWidth - 220, rect && menu.x === 0 ? rect.left : menu.x)
  const y = Math.min(innerHeight - 320, rect && menu.y === 0 ? rect.bottom : menu.y)
  function onKeyDown(e) {
    const buttons = [...ref.current.querySelectorAll('button')]
    const i = buttons.indexOf(document.activeElement)
    if (e.key === 'ArrowDown') { buttons[(i + 1) % buttons.length].focus(); e.preventDefault() }
    if (e.key === 'ArrowUp') { buttons[(i - 1 + buttons.length) % buttons.length].focus(); e.preventDefault() }
    if (e.key === 'Escape' || e.key === 'Tab') { close(); e.preventDefault(); e.stopPropagation() }
  }
  return html`<div class="menu" role="menu" ref=${ref} aria-label=${t('actionsFor', menu.entry.name)}
      style=${{ left: `${Math.max(4, x)}px`, top: `${Math.max(4, y)}px` }} onKeyDown=${onKeyDown}>
    ${actions.map(([label, run]) => html`<button type="button" role="menuitem" key=${label}
        onClick=${() => { close(); run() }}>${label}</button>`)}
  </div>`
}

export { toast }
