// The board's settings read from its address, so that a bookmark is a team screen:
// `/?queues=sales,support&view=summary&kiosk=1&sort=state&density=cells&rotate=20&lang=ru`.
// Unknown or malformed values fall back to the default (a typo on a wall TV should
// still show a board). One place parses them; the settings dialog writes them back.

export const VIEWS = ['board', 'summary'];
export const SORTS = ['name', 'extension', 'state'];
export const DENSITIES = ['auto', 'comfortable', 'compact', 'cells'];
export const LANGUAGES = ['en', 'ru'];
const MIN_ROTATE_S = 5;
const MAX_ROTATE_S = 3600;

/** What the address asks for; every field has its default when absent or invalid. */
export function readAddress(href) {
  const params = new URL(href).searchParams;
  const oneOf = (name, allowed, fallback) => {
    const value = (params.get(name) ?? '').trim().toLowerCase();
    return allowed.includes(value) ? value : fallback;
  };
  // Queue names are Asterisk's, case and all: kept as written.
  const queues = (params.get('queues') ?? '').split(',').map((name) => name.trim()).filter(Boolean);
  const rotate = Number.parseInt(params.get('rotate') ?? '', 10);
  return {
    queues: queues.length ? new Set(queues) : null,
    view: oneOf('view', VIEWS, 'board'),
    kiosk: ['1', 'true', 'yes', 'on'].includes((params.get('kiosk') ?? '').toLowerCase()),
    sort: oneOf('sort', SORTS, 'name'),
    density: oneOf('density', DENSITIES, 'auto'),
    lang: oneOf('lang', LANGUAGES, null),
    rotate: Number.isFinite(rotate) && rotate > 0 ? Math.min(MAX_ROTATE_S, Math.max(MIN_ROTATE_S, rotate)) : null,
  };
}

const DEFAULTS = { sort: 'name', density: 'auto', view: 'board' };

/** `href` with `changes` written in; a value that is null, empty or the default leaves the address. */
export function withSettings(href, changes) {
  const url = new URL(href);
  for (const [name, value] of Object.entries(changes)) {
    if (value == null || value === '' || DEFAULTS[name] === value) url.searchParams.delete(name);
    else url.searchParams.set(name, String(value));
  }
  return url.href;
}
