// The order of operators in a queue: by name (natural: "Agent 2" before "Agent 10"), by
// extension, or by state then time in state (who has been in it longest first).

import { naturalCollator } from './i18n.js';

// Ready to take a call first, then the phone's states, then those away.
const STATE_RANK = { idle: 0, ringing: 1, in_call: 2, on_hold: 3, wrapup: 4, paused: 5, unavailable: 6, unknown: 7 };

/** The extension of an interface: "PJSIP/1001" → "1001", "Local/1001@agents/n" → "1001". */
export function extension(memberId) {
  const slash = memberId.indexOf('/');
  const rest = slash >= 0 ? memberId.slice(slash + 1) : memberId;
  const at = rest.indexOf('@');
  return at > 0 ? rest.slice(0, at) : rest;
}

/**
 * A comparator of tile records ({name, ext, memberId, key, since}) for `sort`.
 * Ties fall back to the name and then the interface, so the order is total and stable.
 */
export function tileComparator(sort) {
  const collator = naturalCollator();
  const byName = (a, b) => collator.compare(a.name, b.name) || collator.compare(a.memberId, b.memberId);
  if (sort === 'extension') return (a, b) => collator.compare(a.ext, b.ext) || byName(a, b);
  if (sort === 'state') {
    return (a, b) =>
      (STATE_RANK[a.key] ?? 9) - (STATE_RANK[b.key] ?? 9) ||
      (a.since ?? Number.MAX_SAFE_INTEGER) - (b.since ?? Number.MAX_SAFE_INTEGER) ||
      byName(a, b);
  }
  return byName;
}

/** Queue names in natural order. */
export function queueComparator() {
  const collator = naturalCollator();
  return (a, b) => collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}
