// Every English text of the web UI, in one place, so that a translation is
// one more table like this one. Values are plain strings or functions of the
// numbers and names they show; they are always rendered as text, never HTML.

export const en = {
  appName: 'selfdrive',
  loading: 'Loading…',
  retry: 'Try again',
  cancel: 'Cancel',
  close: 'Close',
  ok: 'OK',
  save: 'Save',
  undo: 'Undo',

  // sign-in
  signInTitle: 'Sign in to selfdrive',
  username: 'Username',
  password: 'Password',
  signIn: 'Sign in',
  signingIn: 'Signing in…',
  wrongCredentials: 'Wrong username or password.',
  tooManyAttempts: (s) => `Too many failed attempts. Try again in ${Math.max(1, Math.ceil(s / 60))} min.`,
  signedOutElsewhere: 'Your session has ended. Sign in again.',

  // navigation
  files: 'Files',
  trash: 'Trash',
  account: 'Account',
  mainNav: 'Main',
  breadcrumbs: 'Folder path',
  home: 'My files',
  quotaUsed: (used, total) => total > 0 ? `${used} of ${total} used` : `${used} used`,
  quotaLabel: 'Storage used',

  // toolbar
  search: 'Search',
  searchIn: (name) => `Search in ${name}`,
  searchResults: (n, q, more) => `${n}${more ? '+' : ''} result${n === 1 ? '' : 's'} for “${q}”`,
  clearSearch: 'Clear search',
  uploadFiles: 'Upload files',
  uploadFolder: 'Upload folder',
  newFolder: 'New folder',
  listView: 'List view',
  gridView: 'Grid view',
  sortBy: 'Sort by',
  sortName: 'Name',
  sortSize: 'Size',
  sortModified: 'Modified',
  ascending: 'ascending',
  descending: 'descending',
  shortcuts: 'Keyboard shortcuts',

  // listing
  colName: 'Name',
  colSize: 'Size',
  colModified: 'Modified',
  emptyFolder: 'This folder is empty. Drop files here or use Upload.',
  noResults: 'Nothing found.',
  folderCount: (n) => `${n} item${n === 1 ? '' : 's'}`,
  selectItem: (name) => `Select ${name}`,
  selectAll: 'Select all',
  selectedCount: (n) => `${n} selected`,
  clearSelection: 'Clear selection',
  actionsFor: (name) => `Actions for ${name}`,
  loadingMore: (n) => `Loaded ${n} items…`,
  folderKind: 'Folder',
  sharedWithMe: 'Shared with me',

  // actions
  open: 'Open',
  download: 'Download',
  downloadZip: 'Download as zip',
  rename: 'Rename',
  move: 'Move',
  copy: 'Copy',
  moveTo: 'Move to…',
  copyTo: 'Copy to…',
  delete: 'Delete',
  details: 'Details and revisions',
  renameLabel: (name) => `New name for ${name}`,
  newFolderName: 'Folder name',
  newFolderDefault: 'New folder',
  create: 'Create',
  moveHere: 'Move here',
  copyHere: 'Copy here',
  pickFolder: (what) => `${what}: choose a folder`,
  up: 'Up one folder',
  movedToTrash: (n) => n === 1 ? 'Moved to the trash.' : `Moved ${n} items to the trash.`,
  restored: (n) => n === 1 ? 'Restored.' : `Restored ${n} items.`,
  moved: (n) => n === 1 ? 'Moved.' : `Moved ${n} items.`,
  copied: (n) => n === 1 ? 'Copied.' : `Copied ${n} items.`,
  renamed: 'Renamed.',
  created: 'Folder created.',
  dropHere: (folder) => `Drop to upload to ${folder}`,
  dropMoveInto: (folder) => `Move into ${folder}`,

  // name clash
  clashTitle: 'A file with this name exists',
  clashText: (name, folder) => `“${name}” already exists in ${folder}.`,
  clashFolderText: (name, folder) => `A folder named “${name}” already exists in ${folder}.`,
  keepBoth: 'Keep both',
  replace: 'Replace',
  merge: 'Merge',
  skip: 'Skip',
  applyToAll: (n) => `Do this for the other ${n} clash${n === 1 ? '' : 'es'}`,

  // uploads
  uploadsTitle: 'Uploads',
  uploadsSummary: (done, total, pct) => `${done} of ${total} done · ${pct}%`,
  uploadsAllDone: (n) => `${n} upload${n === 1 ? '' : 's'} complete`,
  pause: 'Pause',
  resume: 'Resume',
  pauseAll: 'Pause all',
  resumeAll: 'Resume all',
  cancelUpload: 'Cancel upload',
  retryUpload: 'Retry',
  clearFinished: 'Clear finished',
  collapse: 'Collapse',
  expand: 'Expand',
  progressOf: (name) => `Progress of ${name}`,
  queued: 'Waiting',
  paused: 'Paused',
  done: 'Done',
  failed: 'Failed',
  canceled: 'Canceled',
  skipped: 'Skipped',
  reconnecting: 'Connection lost, retrying…',
  timeLeft: (t) => `${t} left`,
  moreUploads: (n) => `and ${n} more`,

  // preview
  preview: 'Preview',
  previous: 'Previous',
  next: 'Next',
  noPreview: 'No preview for this kind of file.',
  previewTooBig: 'This file is too big to show here. Download it to see it all.',
  pdfPages: (shown, total) => shown < total ? `Showing ${shown} of ${total} pages.` : `${total} page${total === 1 ? '' : 's'}`,
  pdfPage: (n) => `Page ${n}`,
  textTruncated: 'Showing the first megabyte.',

  // details and revisions
  revisions: 'Revisions',
  revisionOf: (n) => `Revision ${n}`,
  current: 'current',
  restore: 'Restore',
  restoreRevision: (n) => `Restore revision ${n}`,
  downloadRevision: (n) => `Download revision ${n}`,
  by: (who, device) => [who, device].filter(Boolean).join(' · '),
  location: 'Location',
  noRevisions: 'No revisions.',
  revisionRestored: (n) => `Revision ${n} is now the newest.`,

  // notifications (bell.js)
  notifications: 'Notifications',
  notification: (kind, who, name, count) => {
    const times = count > 1 ? ` (${count} times)` : ''
    if (kind === 'shared') return `${who} shared ${name} with you`
    const verb = { added: 'added', edited: 'edited', deleted: 'deleted', restored: 'restored', moved: 'moved' }[kind] || kind
    return `${who} ${verb} ${name}${times}`
  },
  someone: 'Someone',
  noNotifications: 'Nothing new. You will hear here when someone shares with you or changes what you share.',
  markAllRead: 'Mark all read',
  markRead: 'Mark read',
  markReadOf: (text) => `Mark read: ${text}`,
  unread: 'unread',

  // trash
  trashTitle: 'Trash',
  trashEmpty: 'The trash is empty.',
  deletedFrom: 'Deleted from',
  deletedAt: 'Deleted',
  expires: 'Deleted for good',
  emptyTrash: 'Empty trash',
  deleteForever: 'Delete forever',
  confirmPurge: (n) => `Delete ${n} item${n === 1 ? '' : 's'} forever? This cannot be undone.`,
  confirmEmpty: 'Delete everything in the trash forever? This cannot be undone.',
  purged: (n) => `Deleted ${n} item${n === 1 ? '' : 's'} forever.`,

  // account
  accountTitle: 'Account',
  signedInAs: (name) => `Signed in as ${name}`,
  devicesTitle: 'Devices and browsers',
  deviceWeb: 'Browser session',
  deviceApp: 'Device',
  thisDevice: 'this one',
  lastSeen: 'Last seen',
  createdAt: 'Added',
  revoke: 'Sign out',
  revokeDevice: (name) => `Sign out ${name}`,
  signOut: 'Sign out',
  signOutEverywhere: 'Sign out everywhere',
  alsoDevices: 'Also sign out desktop and phone apps (their tokens stop working)',
  theme: 'Theme follows your system settings.',

  // shortcuts help
  keys: [
    ['?', 'Show this help'],
    ['/', 'Search'],
    ['↑ ↓', 'Move between items'],
    ['Enter', 'Open'],
    ['Space', 'Select or unselect'],
    ['Shift + ↑ ↓', 'Extend the selection'],
    ['Ctrl/⌘ + A', 'Select all'],
    ['Escape', 'Clear the selection, close'],
    ['F2', 'Rename'],
    ['Delete', 'Move to the trash'],
    ['Alt + ↑ or Backspace', 'Up one folder'],
    ['Shift + N', 'New folder'],
    ['U', 'Upload files'],
    ['← →', 'Previous / next in a preview'],
  ],

  // errors
  errorGeneric: 'Something went wrong.',
  errorNetwork: 'Cannot reach the server. Check the connection.',
  errorNotFound: 'This item no longer exists.',
  errorQuota: 'Not enough storage space left.',
  errorExists: 'An item with that name already exists.',
  errorForbidden: 'You do not have permission to do that.',
  errorInvalidName: 'That name is not allowed.',
}

/** The text for key in the current language (English only for now). */
export function t(key, ...args) {
  const v = en[key]
  if (typeof v === 'function') return v(...args)
  return v ?? key
}
