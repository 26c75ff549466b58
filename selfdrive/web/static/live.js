// Live updates: one long poll per tab on the change feed's doorbell
// (GET /changes/wait), then the changes themselves (GET /changes). Views
// listen for the folders that changed; the loop honours the server's
// backoff hint and waits longer after errors, never spinning.

import { api, csrf, sessionEnded } from './api.js'
import { parentOf } from './util.js'

/** fires {detail: Set of folder paths whose listing changed} */
export const changed = new EventTarget()
/** fires 'changes' {detail: the feed's changes since the last ring, in order} */
export const feed = new EventTarget()

const SHARED_ROOT = '/Shared with me'

let running = false
let markReady = null
/**
 * Resolves once the feed's cursor is taken (or could not be): a listing
 * fetched after it cannot miss a change that the feed will not report.
 */
export const ready = new Promise((resolve) => { markReady = resolve })

let early = null

/** Take the feed's cursor now, while the page asks who is signed in. */
export function prime() {
  early = api('GET', '/changes/latest', { quiet401: true }).catch(() => null)
  early.then(() => markReady())
}

export async function follow() {
  if (running) return
  running = true
  let cursor = null
  let pause = 0
  for (;;) {
    if (pause) await new Promise((resolve) => setTimeout(resolve, pause * 1000))
    try {
      if (!cursor && early) cursor = (await early)?.cursor ?? null
      early = null
      if (!cursor) cursor = (await api('GET', '/changes/latest', { quiet401: true })).cursor
      markReady()
      const ring = await api('GET', '/changes/wait', { query: { cursor, timeout: 60 }, quiet401: true })
      pause = ring.backoff || 0
      if (!ring.changes) continue
      const folders = new Set()
      const all = []
      for (;;) {
        const page = await api('GET', '/changes', { query: { cursor, limit: 1000 }, quiet401: true })
        for (const c of page.changes) {
          all.push(c)
          folders.add(parentOf(c.path))
          // a share coming or going makes /Shared with me appear in or leave the root
          if (parentOf(c.path) === SHARED_ROOT) folders.add('/')
          if (c.kind === 'folder') folders.add(c.path)
          if (c.old_path) folders.add(parentOf(c.old_path))
        }
        cursor = page.cursor
        if (!page.has_more) break
      }
      if (folders.size) changed.dispatchEvent(new CustomEvent('changed', { detail: folders }))
      if (all.length) feed.dispatchEvent(new CustomEvent('changes', { detail: all }))
    } catch (err) {
      markReady()
      if (err.status === 401) { // signed out (here, elsewhere, or disabled): the app restarts it
        running = false
        if (csrf()) sessionEnded.dispatchEvent(new Event('ended')) // not this tab's own sign-out
        return
      }
      if (err.status === 410) cursor = null // the journal moved on: start from now
      pause = Math.min(Math.max(pause * 2, 2), 60)
    }
  }
}
