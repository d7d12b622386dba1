// The page: keyed DOM updates from the live state, one animation frame at a time.
//
// Nothing is re-rendered wholesale per event. The state collects what changed
// (dirty sets); once per animation frame the view updates only those tiles,
// queues and the calls list, writing a DOM property only when its value
// differs. Timers are a separate pass that runs when the wall-clock second
// changes, so a burst of AMI events and ticking clocks never pile up work.

import { memberCounts, tileState } from './state.js';

const LABELS = {
  idle: 'Available',
  ringing: 'Ringing',
  in_call: 'In call',
  on_hold: 'On hold',
  paused: 'Paused',
  wrapup: 'Wrap-up',
  unavailable: 'Unavailable',
  unknown: 'Unknown',
};
const MAX_CALLERS = 6; // per queue; the rest is summarised as "+N more"
const MAX_CALLS = 40;
const DEFAULT_SERVICE_LEVEL = 60;
const MIN_TILE_W = 128; // px: still readable from a few metres on a 1080p TV
const MAX_TILE_W = 300;

/** 75 → "1:15", 3700 → "1:01:40"; null → "". */
export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function secondsSince(ms, now) {
  return ms ? (now - ms) / 1000 : null;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function extension(memberId) {
  const slash = memberId.lastIndexOf('/');
  return slash >= 0 ? memberId.slice(slash + 1) : memberId;
}

function byName(a, b) {
  return (a.memberName || a.memberId).localeCompare(b.memberName || b.memberId) || a.memberId.localeCompare(b.memberId);
}

export class WallboardView {
  /** @param {Document} doc @param {import('./state.js').LiveState} state */
  constructor(doc, state) {
    this.doc = doc;
    this.state = state;
    this.queuesEl = doc.getElementById('queues');
    this.callsEl = doc.getElementById('calls');
    this.tileTemplate = doc.getElementById('tile-template').content.firstElementChild;
    /** @type {Map<string, any>} queue name → its section's elements */
    this.sections = new Map();
    /** @type {Map<string, any>} `${queue}\n${memberId}` → tile record */
    this.tiles = new Map();
    /** @type {Map<string, Set<string>>} memberId → queues it has a tile in */
    this.tilesOf = new Map();
    /** @type {Map<string, any>} call id → row record */
    this.callRows = new Map();
    this.totals = Object.fromEntries(
      [...doc.querySelectorAll('[data-total]')].map((el) => [el.dataset.total, el]),
    );
    this.clockEl = doc.getElementById('clock');
    this.lastSecond = -1;
    this.needsLayout = true;
    /** Called with each new queue section and tile (the supervisor console adds its controls). */
    this.onSection = null;
    this.onQueueRendered = null;
    this.onTile = null;
  }

  // --- per frame ------------------------------------------------------------

  /** Apply what changed since the last frame; tick timers when the second changed. */
  frame() {
    const dirty = this.state.takeDirty();
    const changed = dirty.all || dirty.operators.size || dirty.queues.size || dirty.channels;
    if (dirty.all) this.renderAll();
    else if (changed) this.renderDirty(dirty);
    if (changed) {
      this.renderTotals();
      if (this.needsLayout) this.fitTiles();
    }
    const now = this.state.now();
    const second = Math.floor(now / 1000);
    if (second !== this.lastSecond) {
      this.lastSecond = second;
      this.tick(now);
    }
  }

  renderAll() {
    const queueNames = [...this.state.queues.keys()];
    for (const op of this.state.operators.values()) {
      for (const m of op.queues) if (!this.state.queues.has(m.queueName)) queueNames.push(m.queueName);
    }
    const wanted = new Set(queueNames);
    for (const name of [...this.sections.keys()]) if (!wanted.has(name)) this.removeSection(name);
    for (const name of wanted) this.renderQueue(name);
    for (const memberId of [...this.tilesOf.keys()]) {
      if (!this.state.operators.has(memberId)) this.renderOperator(memberId);
    }
    for (const memberId of this.state.operators.keys()) this.renderOperator(memberId);
    for (const name of wanted) this.renderQueueCounts(name);
    this.renderCalls();
    this.doc.getElementById('empty-board').hidden = wanted.size > 0;
    this.doc.getElementById('board').setAttribute('aria-busy', 'false');
  }

  renderDirty(dirty) {
    for (const name of dirty.queues) this.renderQueue(name);
    for (const memberId of dirty.operators) this.renderOperator(memberId);
    for (const name of dirty.queues) this.renderQueueCounts(name);
    if (dirty.channels) this.renderCalls();
  }

  // --- queues ---------------------------------------------------------------

  section(name) {
    let section = this.sections.get(name);
    if (section) return section;
    const el = this.doc.createElement('section');
    el.className = 'queue';
    el.dataset.queue = name;
    el.innerHTML = `
      <header class="queue-head">
        <h2 class="queue-name"></h2>
        <dl class="stats">
          <div class="stat waiting"><dt>Waiting</dt><dd data-stat="waiting">0</dd></div>
          <div class="stat longest"><dt>Longest wait</dt><dd data-stat="longest">0:00</dd></div>
          <div class="stat sl"><dt>Service level</dt><dd data-stat="sl">–</dd></div>
          <div class="stat"><dt>Completed</dt><dd data-stat="completed">0</dd></div>
          <div class="stat"><dt>Abandoned</dt><dd data-stat="abandoned">0</dd></div>
          <div class="stat"><dt>Available</dt><dd data-stat="available">0</dd></div>
        </dl>
      </header>
      <ol class="callers"></ol>
      <div class="tiles"></div>`;
    el.querySelector('.queue-name').textContent = name;
    const stats = Object.fromEntries([...el.querySelectorAll('[data-stat]')].map((dd) => [dd.dataset.stat, dd]));
    section = {
      el,
      stats,
      longestStat: el.querySelector('.stat.longest'),
      callersEl: el.querySelector('.callers'),
      tilesEl: el.querySelector('.tiles'),
      callers: new Map(), // uniqueId → row record
      oldestJoin: null,
      serviceLevel: DEFAULT_SERVICE_LEVEL,
      memberIds: new Set(),
    };
    this.sections.set(name, section);
    // Keep sections in name order: a wall should not reshuffle.
    const after = [...this.sections.keys()].sort().find((other) => other > name);
    this.queuesEl.insertBefore(el, after ? this.sections.get(after).el : null);
    this.needsLayout = true;
    this.onSection?.(section, name);
    return section;
  }

  removeSection(name) {
    const section = this.sections.get(name);
    if (!section) return;
    for (const memberId of section.memberIds) this.tilesOf.get(memberId)?.delete(name);
    for (const key of [...this.tiles.keys()]) if (key.startsWith(`${name}\n`)) this.tiles.delete(key);
    section.el.remove();
    this.sections.delete(name);
    this.needsLayout = true;
  }

  renderQueue(name) {
    const queue = this.state.queues.get(name);
    const hasMembers = [...this.state.operators.values()].some((op) => op.queues.some((m) => m.queueName === name));
    if (!queue && !hasMembers) {
      this.removeSection(name);
      return;
    }
    const section = this.section(name);
    const q = queue ?? { name, callers: [] };
    section.serviceLevel = q.serviceLevel || DEFAULT_SERVICE_LEVEL;
    this.renderAsteriskCounters(section, name);
    this.onQueueRendered?.(section, name); // stats.js: today's figures from the call records
    this.renderCallers(section, q.callers ?? []);
  }

  /** Asterisk's own Completed / Abandoned / Service level (reset by its reloads and restarts). */
  renderAsteriskCounters(section, name) {
    const q = this.state.queues.get(name) ?? {};
    setText(section.stats.completed, String(q.completed ?? 0));
    setText(section.stats.abandoned, String(q.abandoned ?? 0));
    const perf = q.serviceLevelPerf;
    // Asterisk reports 0% before its first call: no calls yet is no figure, not a failure.
    const noCalls = !(q.completed || q.abandoned);
    setText(section.stats.sl, perf == null || noCalls ? '–' : `${Math.round(perf)}%`);
    section.stats.sl.title = `answered within ${section.serviceLevel} s`;
  }

  renderCallers(section, callers) {
    const sorted = [...callers].sort((a, b) => a.position - b.position);
    setText(section.stats.waiting, String(sorted.length));
    section.el.classList.toggle('has-waiting', sorted.length > 0);
    section.oldestJoin = sorted.reduce((min, c) => (c.joinedAt && (min == null || c.joinedAt < min) ? c.joinedAt : min), null);
    const shown = sorted.slice(0, MAX_CALLERS);
    const keep = new Set(shown.map((c) => c.uniqueId));
    for (const [id, row] of section.callers) {
      if (!keep.has(id)) {
        row.el.remove();
        section.callers.delete(id);
      }
    }
    let previous = null;
    for (const caller of shown) {
      let row = section.callers.get(caller.uniqueId);
      if (!row) {
        const el = this.doc.createElement('li');
        el.className = 'caller';
        el.innerHTML = '<span class="who"></span><span class="wait"></span>';
        row = { el, who: el.firstElementChild, wait: el.lastElementChild, joinedAt: null };
        section.callers.set(caller.uniqueId, row);
      }
      row.joinedAt = caller.joinedAt ?? null;
      setText(row.who, caller.callerIdName && caller.callerIdName !== caller.callerIdNum
        ? `${caller.callerIdName} · ${caller.callerIdNum ?? ''}`
        : caller.callerIdNum || caller.callerIdName || 'unknown caller');
      const expected = previous ? previous.el.nextSibling : section.callersEl.firstChild;
      if (row.el !== expected) section.callersEl.insertBefore(row.el, expected);
      previous = row;
    }
    this.tickQueue(section, this.state.now());
    let more = section.callersEl.querySelector('.more');
    const hidden = sorted.length - shown.length;
    if (hidden > 0) {
      if (!more) {
        more = this.doc.createElement('li');
        more.className = 'more';
      }
      section.callersEl.appendChild(more);
      setText(more, `+${hidden} more`);
    } else if (more) {
      more.remove();
    }
  }

  renderQueueCounts(name) {
    const section = this.sections.get(name);
    if (!section) return;
    const counts = memberCounts(name, this.state.operators.values());
    setText(section.stats.available, `${counts.available}/${counts.total}`);
  }

  // --- operators ------------------------------------------------------------

  renderOperator(memberId) {
    const op = this.state.operators.get(memberId);
    const had = this.tilesOf.get(memberId) ?? new Set();
    const now = this.state.now();
    const queues = new Set(op ? op.queues.map((m) => m.queueName) : []);
    for (const name of had) {
      if (!queues.has(name)) this.removeTile(name, memberId);
    }
    if (!op) {
      this.tilesOf.delete(memberId);
      return;
    }
    this.tilesOf.set(memberId, queues);
    for (const membership of op.queues) {
      const tile = this.tile(membership.queueName, op);
      this.updateTile(tile, op, membership, now);
    }
  }

  /** The tile now showing `memberId` in `queueName`, if any. */
  tileAt(queueName, memberId) {
    return this.tiles.get(`${queueName}\n${memberId}`) ?? null;
  }

  tile(queueName, op) {
    const key = `${queueName}\n${op.memberId}`;
    let tile = this.tiles.get(key);
    if (tile) return tile;
    const section = this.section(queueName);
    const el = this.tileTemplate.cloneNode(true);
    el.dataset.member = op.memberId;
    tile = {
      el,
      name: el.querySelector('.name'),
      ext: el.querySelector('.ext'),
      label: el.querySelector('.label'),
      timer: el.querySelector('.timer'),
      detail: el.querySelector('.detail'),
      memberId: op.memberId,
      queueName,
      key: '',
      since: null,
      until: null,
      sortName: '',
    };
    this.tiles.set(key, tile);
    section.memberIds.add(op.memberId);
    tile.sortName = op.memberName || op.memberId;
    this.insertSorted(section, tile, op);
    this.needsLayout = true;
    this.onTile?.(tile);
    return tile;
  }

  insertSorted(section, tile, op) {
    // Tiles stay in name order, so a person is always in the same place.
    const siblings = section.tilesEl.children;
    let lo = 0;
    let hi = siblings.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const other = this.state.operators.get(siblings[mid].dataset.member) ?? { memberId: siblings[mid].dataset.member };
      if (byName(other, op) < 0) lo = mid + 1;
      else hi = mid;
    }
    section.tilesEl.insertBefore(tile.el, siblings[lo] ?? null);
  }

  removeTile(queueName, memberId) {
    const key = `${queueName}\n${memberId}`;
    const tile = this.tiles.get(key);
    if (tile) {
      tile.el.remove();
      this.tiles.delete(key);
      this.needsLayout = true;
    }
    this.sections.get(queueName)?.memberIds.delete(memberId);
  }

  updateTile(tile, op, membership, now) {
    const view = tileState(op, membership, now);
    if (tile.key !== view.key) {
      if (tile.key) tile.el.classList.remove(`st-${tile.key}`);
      tile.el.classList.add(`st-${view.key}`);
      tile.el.dataset.state = view.key;
      tile.key = view.key;
    }
    tile.el.classList.toggle('is-paused', view.paused && view.key !== 'paused');
    setText(tile.name, op.memberName || op.memberId);
    setText(tile.ext, extension(op.memberId));
    setText(tile.label, LABELS[view.key]);
    setText(tile.detail, this.detail(view, op));
    tile.el.title = `${op.memberName || op.memberId} (${op.memberId}) — ${LABELS[view.key]}${view.reason ? `: ${view.reason}` : ''}`;
    tile.since = view.since;
    tile.until = view.until ?? null;
    this.updateTimer(tile, now);
  }

  detail(view, op) {
    if (view.key === 'paused') return view.reason || 'no reason given';
    if (view.key === 'in_call' || view.key === 'on_hold' || view.key === 'ringing') {
      const channel = op.currentChannel ? this.state.channels.get(op.currentChannel) : null;
      const party = channel?.connectedLineNum || channel?.callerIdNum || '';
      const paused = view.paused ? `paused${view.reason ? `: ${view.reason}` : ''}` : '';
      return [party, paused].filter(Boolean).join(' · ');
    }
    return '';
  }

  updateTimer(tile, now) {
    // Wrap-up counts down to its end; every other state counts up from its start.
    const text = tile.until ? `−${duration((tile.until - now) / 1000)}` : duration(secondsSince(tile.since, now));
    setText(tile.timer, text);
  }

  // --- calls ----------------------------------------------------------------

  /** Channels grouped into calls: every leg of one call shares its linkedId. */
  calls() {
    const calls = new Map();
    for (const ch of this.state.channels.values()) {
      const id = ch.linkedId || ch.uniqueId || ch.name;
      let call = calls.get(id);
      if (!call) {
        call = { id, legs: [], queueName: null, memberId: null, caller: null, answeredAt: null, startedAt: null, ringing: false };
        calls.set(id, call);
      }
      call.legs.push(ch);
      call.queueName ||= ch.queueName;
      if (ch.memberId) {
        call.memberId = ch.memberId;
        if (ch.answeredAt) call.answeredAt = ch.answeredAt;
      }
      if (ch.uniqueId === id || !call.caller) call.caller = ch;
      if (ch.createdAt && (!call.startedAt || ch.createdAt < call.startedAt)) call.startedAt = ch.createdAt;
      if (ch.state === 'RINGING' || ch.state === 'RING') call.ringing = true;
    }
    return [...calls.values()];
  }

  renderCalls() {
    const calls = this.calls().sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
    this.callCount = calls.length;
    setText(this.doc.getElementById('calls-count'), String(calls.length));
    this.doc.getElementById('calls-empty').hidden = calls.length > 0;
    const more = this.doc.getElementById('calls-more');
    more.hidden = calls.length <= MAX_CALLS;
    setText(more, `+${calls.length - MAX_CALLS} more`);
    const shown = calls.slice(0, MAX_CALLS);
    const keep = new Set(shown.map((c) => c.id));
    for (const [id, row] of this.callRows) {
      if (!keep.has(id)) {
        row.el.remove();
        this.callRows.delete(id);
      }
    }
    let previous = null;
    for (const call of shown) {
      let row = this.callRows.get(call.id);
      if (!row) {
        const el = this.doc.createElement('li');
        el.className = 'call';
        el.innerHTML = '<span class="call-who"></span><span class="call-where"></span><span class="call-time"></span>';
        row = { el, who: el.children[0], where: el.children[1], time: el.children[2], since: null, phase: '' };
        this.callRows.set(call.id, row);
      }
      const operator = call.memberId ? this.state.operators.get(call.memberId) : null;
      const caller = call.caller;
      setText(row.who, caller?.callerIdName && caller.callerIdName !== caller.callerIdNum
        ? `${caller.callerIdName} · ${caller.callerIdNum ?? ''}`
        : caller?.callerIdNum || caller?.callerIdName || caller?.name || 'call');
      const agent = operator ? operator.memberName || operator.memberId : call.memberId;
      const phase = call.answeredAt ? 'talking' : call.ringing ? 'ringing' : call.queueName ? 'queued' : 'dialling';
      setText(row.where, [call.queueName, agent].filter(Boolean).join(' → ') || phase);
      if (row.phase !== phase) {
        row.el.dataset.phase = phase;
        row.phase = phase;
      }
      row.since = call.answeredAt ?? call.startedAt;
      setText(row.time, duration(secondsSince(row.since, this.state.now())));
      const expected = previous ? previous.el.nextSibling : this.callsEl.firstChild;
      if (row.el !== expected) this.callsEl.insertBefore(row.el, expected);
      previous = row;
    }
  }

  // --- header ---------------------------------------------------------------

  renderTotals() {
    const totals = { available: 0, ringing: 0, inCall: 0, paused: 0, unavailable: 0 };
    const now = this.state.now();
    for (const op of this.state.operators.values()) {
      const view = tileState(op, { paused: op.paused, pausedReason: op.pausedReason }, now);
      if (view.key === 'idle') totals.available += 1;
      else if (view.key === 'ringing') totals.ringing += 1;
      else if (view.key === 'in_call' || view.key === 'on_hold') totals.inCall += 1;
      else if (view.key === 'paused') totals.paused += 1;
      else if (view.key === 'unavailable') totals.unavailable += 1;
    }
    let waiting = 0;
    for (const q of this.state.queues.values()) waiting += q.callers?.length ?? 0;
    for (const [key, value] of Object.entries({ ...totals, waiting, calls: this.callCount ?? 0 })) {
      if (this.totals[key]) setText(this.totals[key], String(value));
    }
    this.doc.body.dataset.version = String(this.state.version);
  }

  // --- timers ---------------------------------------------------------------

  tick(now) {
    for (const tile of this.tiles.values()) {
      // Wrap-up ends without an event: re-evaluate the tile when it is over.
      if (tile.until && tile.until <= now) this.state.dirty.operators.add(tile.memberId);
      this.updateTimer(tile, now);
    }
    for (const section of this.sections.values()) this.tickQueue(section, now);
    for (const row of this.callRows.values()) setText(row.time, duration(secondsSince(row.since, now)));
    setText(this.clockEl, new Date(now).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }));
  }

  tickQueue(section, now) {
    for (const row of section.callers.values()) setText(row.wait, duration(secondsSince(row.joinedAt, now)));
    const longest = secondsSince(section.oldestJoin, now) ?? 0;
    setText(section.stats.longest, duration(longest));
    // Against the queue's service level: amber at half of it, red past it.
    const level = longest >= section.serviceLevel ? 'breach' : longest >= section.serviceLevel / 2 ? 'warn' : '';
    if (section.longestStat.dataset.level !== level) section.longestStat.dataset.level = level;
  }

  // --- layout ---------------------------------------------------------------

  /**
   * Size tiles so that the whole board fits the screen when it can (a wall TV
   * cannot scroll): the widest tile whose rows, with every queue's header,
   * still fit the height. Runs only when tiles come or go, or on resize.
   */
  fitTiles() {
    this.needsLayout = false;
    const root = this.doc.documentElement;
    const sections = [...this.sections.values()];
    const sample = this.tiles.values().next().value;
    if (!sections.length || !sample) return;
    const current = parseFloat(getComputedStyle(root).getPropertyValue('--tile-w')) || 180;
    const width = sections[0].tilesEl.clientWidth;
    const available = window.innerHeight - this.queuesEl.getBoundingClientRect().top - 12;
    // Everything scales with --tile-w except each section's header and callers.
    const heightPerWidth = sample.el.offsetHeight / current;
    const gapPerWidth = 0.04;
    const fixed = sections.reduce(
      (sum, s) => sum + s.el.offsetHeight - s.tilesEl.offsetHeight, 0,
    ) + (sections.length - 1) * 14;
    const fits = (w) => {
      const gap = w * gapPerWidth;
      const columns = Math.max(1, Math.floor((width + gap) / (w + gap)));
      let height = fixed;
      for (const s of sections) {
        const rows = Math.ceil(s.tilesEl.childElementCount / columns);
        height += rows * w * heightPerWidth + Math.max(0, rows - 1) * gap;
      }
      return height <= available;
    };
    let lo = MIN_TILE_W;
    let hi = MAX_TILE_W;
    if (!fits(lo)) hi = lo; // too many to fit: smallest readable tiles, and the page scrolls
    while (hi - lo > 2) {
      const mid = (lo + hi) / 2;
      if (fits(mid)) lo = mid;
      else hi = mid;
    }
    const best = Math.floor(lo);
    if (Math.abs(best - current) >= 2) root.style.setProperty('--tile-w', `${best}px`);
  }

  relayout() {
    this.needsLayout = true;
  }

  // --- connection -----------------------------------------------------------

  /** @param {{state: string, detail?: string, title?: string, retryInMs?: number}} link */
  showLink(link) {
    const el = this.doc.getElementById('link');
    const banner = this.doc.getElementById('banner');
    el.dataset.state = link.state;
    this.doc.body.dataset.link = link.state;
    const labels = { live: 'live', connecting: 'connecting…', offline: 'offline', auth: 'token needed' };
    setText(el, labels[link.state] ?? link.state);
    const problem = link.state === 'offline' || link.state === 'auth';
    banner.hidden = !problem;
    this.doc.getElementById('board').classList.toggle('stale', problem);
    if (problem) {
      setText(this.doc.getElementById('banner-title'), link.title ?? 'Connection lost');
      setText(this.doc.getElementById('banner-detail'), link.detail ?? '');
    }
  }
}
