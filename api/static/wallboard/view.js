// The page: keyed DOM updates from the live state, one animation frame at a time.
//
// Nothing is re-rendered wholesale per event. The state collects what changed
// (dirty sets); at most once per animation frame, and never for more than a
// quarter of the main thread (a thousand tiles: about ten times a second under
// a storm of changes), the view updates only those tiles, queues and the calls
// list, writing a DOM property only when its value differs, in slices of a few
// milliseconds with the layout forced in the same task, so that no task of the
// browser's carries the JS, the layout and the paint at once (at a thousand
// tiles the style and layout of one change cost about what a hundred do).
// Timers are a separate pass that runs when the wall-clock second changes, so
// a burst of AMI events and ticking clocks never pile up work.
// How dense the tiles are, and which queues are on screen, is layout.js's
// job: it runs only when tiles come or go or the window changes size.

import { clock, duration, number, percent, t } from './i18n.js';
import { extension, queueComparator, tileComparator } from './sorting.js';
import { emptyCounts, memberCountsByQueue, tileState } from './state.js';

/** One glyph per state, beside its label: a state is never told by its colour alone. */
export const STATE_ICONS = {
  idle: '✓',
  ringing: '☎',
  in_call: '●',
  on_hold: '◐',
  paused: '‖',
  wrapup: '✎',
  unavailable: '✕',
  unknown: '?',
};
const RING_PHASE_MS = 550; // ringing tiles pulse: on, off, … (wallboard.css, body[data-ring])
const MAX_CALLERS = 6; // per queue; the rest is summarised as "+N more"
// After a render the next waits this many times as long as it took (its JS, style and
// layout): renders take at most a quarter of the main thread, however many changes come.
// A small board renders every frame; a thousand tiles' (whose style and layout cost about
// the same for one change as for a hundred) about ten times a second under a storm ...
const RENDER_GAP_FACTOR = 3;
const MAX_RENDER_GAP_MS = 200;
// ... and a render yields to the browser after this long, going on in a task of its own.
const SLICE_MS = 8;

/** Run `fn` in a task of its own, soon (no timer clamping, unlike setTimeout). */
const taskChannel = new MessageChannel();
const tasks = [];
taskChannel.port1.onmessage = () => tasks.shift()?.();
function postTask(fn) {
  tasks.push(fn);
  taskChannel.port2.postMessage(null);
}
const DEFAULT_SERVICE_LEVEL = 60;

function stateLabels() {
  return {
    idle: t('state.idle'),
    ringing: t('state.ringing'),
    in_call: t('state.in_call'),
    on_hold: t('state.on_hold'),
    paused: t('state.paused'),
    wrapup: t('state.wrapup'),
    unavailable: t('state.unavailable'),
    unknown: t('state.unknown'),
  };
}

function secondsSince(ms, now) {
  return ms ? (now - ms) / 1000 : null;
}

function setText(el, text) {
  // Its one text node changed in place: the browser keeps its layout object (textContent
  // would replace the node, a removal and an addition to lay out).
  const node = el.firstChild;
  if (node && node.nodeType === Node.TEXT_NODE && !node.nextSibling) {
    if (node.data !== text) node.data = text;
  } else if (el.textContent !== text) {
    el.textContent = text;
  }
}

function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

export class WallboardView {
  /**
   * @param {Document} doc @param {import('./state.js').LiveState} state
   * @param {{queues: Set<string>|null, sort: string, view: string}} address
   */
  constructor(doc, state, address = { queues: null, sort: 'name', view: 'board' }) {
    this.doc = doc;
    this.state = state;
    this.queueFilter = address.queues;
    this.compareTiles = tileComparator(address.sort);
    this.compareQueues = queueComparator();
    this.labels = stateLabels();
    this.queuesEl = doc.getElementById('queues');
    this.callsEl = doc.getElementById('calls');
    this.tileTemplate = doc.getElementById('tile-template').content.firstElementChild;
    /** @type {Map<string, any>} queue name → its section's elements */
    this.sections = new Map();
    /** @type {Map<string, any>} `${queue}\n${memberId}` → tile record */
    this.tiles = new Map();
    /** @type {WeakMap<Element, any>} a tile's element → its record (for sorting) */
    this.tileOfEl = new WeakMap();
    /** @type {Map<string, Set<string>>} memberId → queues it has a tile in */
    this.tilesOf = new Map();
    /** @type {Map<string, any>} call id → row record */
    this.callRows = new Map();
    this.totals = Object.fromEntries(
      [...doc.querySelectorAll('[data-total]')].map((el) => [el.dataset.total, el]),
    );
    for (const li of doc.querySelectorAll('.total')) {
      const key = [...li.classList].find((c) => c.startsWith('k-'))?.slice(2);
      const icon = li.querySelector('.state-icon');
      if (icon) icon.textContent = STATE_ICONS[key] ?? (key === 'waiting' ? '◷' : '⇄');
    }
    this.clockEl = doc.getElementById('clock');
    this.lastSecond = -1;
    this.needsLayout = true;
    this.rendering = false; // a render is under way (posted, or in slices)
    this.renderedAt = -Infinity; // when the last one finished (performance.now)
    this.renderCost = 0; // ms of main thread the render under way took so far
    this.renderGap = 0; // ms from the end of the last render to the next
    this.maxCalls = 40; // layout.js: as many rows as the calls panel has room for
    /** 'full' | 'compact' | 'cells' | 'summary' (layout.js sets it) */
    this.density = 'full';
    /** The layout (layout.js), fitted when tiles come or go or the window changes. */
    this.layout = null;
    /** The tile whose details show in the cell popover (cell-popover.js), if any. */
    this.popped = null;
    this.onPopped = null;
    /** Called with each new queue section and tile (the supervisor console adds its controls). */
    this.onSection = null;
    this.onQueueRendered = null;
    this.onTile = null;
  }

  /** Whether the address lets this queue on the board. */
  shows(queueName) {
    return !this.queueFilter || this.queueFilter.has(queueName);
  }

  /** An operator's memberships on this board. */
  shownMemberships(op) {
    return op.queues.filter((m) => this.shows(m.queueName));
  }

  // --- per frame ------------------------------------------------------------

  /**
   * Once per animation frame: start a render when something changed (its gap after the
   * last one passed), fit the layout when asked, pulse the ringing tiles, and tick the
   * timers when the second changed.
   */
  frame() {
    const started = performance.now();
    if (!this.rendering && this.state.hasDirty() && started - this.renderedAt >= this.renderGap) {
      // Not in this frame's task: the render's own task lays out what it changed too
      // (layOut), which leaves the next frame's task only the paint.
      this.rendering = true;
      postTask(() => this.render());
    }
    if (!this.rendering) this.fitIfAsked();
    const now = this.state.now();
    const ring = Math.floor(now / RING_PHASE_MS) % 2 ? 'on' : 'off';
    if (this.doc.body.dataset.ring !== ring) this.doc.body.dataset.ring = ring;
    const second = Math.floor(now / 1000);
    if (second !== this.lastSecond) {
      this.lastSecond = second;
      // Every timer on screen: like a render, in a task of its own with its layout.
      postTask(() => {
        this.tick(this.state.now());
        this.layOut();
      });
    }
  }

  /**
   * Apply what changed, in slices of at most ~SLICE_MS of main thread: the operators left
   * when a slice's time is up go back to the dirty set and the next slice (a task of its
   * own) takes them. The page's version is set only once nothing is left, so it always
   * means "every change up to here is on screen".
   */
  render() {
    const sliceStarted = performance.now();
    const deadline = sliceStarted + SLICE_MS;
    const dirty = this.state.takeDirty();
    let finished = true;
    if (dirty.all) this.renderAll();
    else finished = this.renderDirty(dirty, deadline);
    if (finished) {
      this.renderTotals();
      this.fitIfAsked();
    }
    this.layOut();
    const now = performance.now();
    this.renderCost += now - sliceStarted;
    if (!finished) {
      postTask(() => this.render());
      return;
    }
    this.rendering = false;
    this.renderedAt = now;
    this.renderGap = Math.min(MAX_RENDER_GAP_MS, RENDER_GAP_FACTOR * this.renderCost);
    this.renderCost = 0;
  }

  /**
   * The style and layout of what changed, now, in the task that changed it: otherwise the
   * next frame's task does them and the paint too (tens of milliseconds at a thousand tiles).
   */
  layOut() {
    void this.queuesEl.offsetHeight; // reading a size makes the browser lay out now
  }

  fitIfAsked() {
    if (this.moved && !this.needsLayout) this.layout?.restyle();
    this.moved = false;
    if (this.needsLayout && this.state.loaded) {
      this.needsLayout = false;
      this.layout?.fit();
    }
  }

  renderAll() {
    const queueNames = [...this.state.queues.keys()];
    for (const op of this.state.operators.values()) {
      for (const m of op.queues) if (!this.state.queues.has(m.queueName)) queueNames.push(m.queueName);
    }
    const wanted = new Set(queueNames.filter((name) => this.shows(name)));
    for (const name of [...this.sections.keys()]) if (!wanted.has(name)) this.removeSection(name);
    for (const name of wanted) this.renderQueue(name);
    for (const memberId of [...this.tilesOf.keys()]) {
      if (!this.state.operators.has(memberId)) this.renderOperator(memberId);
    }
    for (const memberId of this.state.operators.keys()) this.renderOperator(memberId);
    this.renderQueueCounts(wanted);
    this.renderCalls();
    const empty = this.doc.getElementById('empty-board');
    empty.hidden = wanted.size > 0;
    setText(empty, this.queueFilter
      ? t('board.noSuchQueues', { queues: [...this.queueFilter].join(', ') })
      : t('board.noQueues'));
    this.doc.getElementById('board').setAttribute('aria-busy', 'false');
  }

  /** What `dirty` names, until `deadline`; false when operators are left (back in the state's dirty set). */
  renderDirty(dirty, deadline = Infinity) {
    for (const name of dirty.queues) if (this.shows(name)) this.renderQueue(name);
    let done = 0;
    for (const memberId of dirty.operators) {
      // The clock is read every few operators: reading it costs more than one of them.
      if (done % 16 === 15 && performance.now() > deadline) break;
      this.renderOperator(memberId);
      dirty.operators.delete(memberId);
      done += 1;
    }
    // A queue Asterisk has no record of lives by its members alone: its section goes with
    // the last of them (renderQueue). Otherwise a member's change moves only the counts.
    for (const name of dirty.counts) {
      if (!dirty.queues.has(name) && !this.state.queues.has(name) && this.shows(name)) this.renderQueue(name);
    }
    this.renderQueueCounts(dirty.counts);
    if (dirty.operators.size) {
      for (const memberId of dirty.operators) this.state.dirty.operators.add(memberId);
      if (dirty.channels) this.state.dirty.channels = true;
      return false;
    }
    if (dirty.channels) this.renderCalls();
    return true;
  }

  // --- queues ---------------------------------------------------------------

  section(name) {
    let section = this.sections.get(name);
    if (section) return section;
    const el = this.doc.createElement('section');
    el.className = 'queue';
    el.dataset.queue = name;
    // Dense headers (compact tiles, cells) show the short label, its full text as the abbr's
    // title: narrow queue columns must never cut a figure.
    const stat = (key, label, extra = '', short = label) =>
      `<div class="stat ${key} ${extra}"><dt><span class="stat-long">${label}</span>`
      + `<abbr class="stat-short" title="${label}">${short}</abbr></dt><dd data-stat="${key}">0</dd></div>`;
    el.innerHTML = `
      <header class="queue-head">
        <h2 class="queue-name"></h2>
        <dl class="stats">
          ${stat('waiting', t('queue.waiting'), '', t('queue.waitingShort'))}
          ${stat('longest', t('queue.longest'), '', t('queue.longestShort'))}
          ${stat('sl', t('queue.serviceLevel'), '', t('queue.serviceLevelShort'))}
          ${stat('completed', t('queue.completed'))}
          ${stat('abandoned', t('queue.abandoned'))}
          ${stat('available', t('queue.available'), '', t('queue.availableShort'))}
          ${stat('ringing', t('queue.ringing'), 'summary-only')}
          ${stat('inCall', t('queue.inCall'), 'summary-only')}
          ${stat('paused', t('queue.paused'), 'summary-only')}
          ${stat('unavailable', t('queue.unavailable'), 'summary-only')}
        </dl>
      </header>
      <ol class="callers"></ol>
      <div class="tiles"></div>`;
    el.querySelector('.queue-name').textContent = name;
    el.setAttribute('aria-label', t('queue.label', { queue: name }));
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
    // Keep sections in (natural) name order: a wall should not reshuffle.
    const after = [...this.sections.keys()].sort(this.compareQueues).find((other) => this.compareQueues(other, name) > 0);
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
    if (!queue && !this.hasMembers(name)) {
      this.removeSection(name);
      return;
    }
    const section = this.section(name);
    const q = queue ?? { name, callers: [] };
    section.serviceLevel = q.serviceLevel || DEFAULT_SERVICE_LEVEL;
    // stats.js: today's figures from the call records, or Asterisk's counters without them.
    if (this.onQueueRendered) this.onQueueRendered(section, name);
    else this.renderAsteriskCounters(section, name);
    this.renderCallers(section, q.callers ?? []);
  }

  hasMembers(queueName) {
    for (const op of this.state.operators.values()) {
      if (op.queues.some((m) => m.queueName === queueName)) return true;
    }
    return false;
  }

  /** Asterisk's own Completed / Abandoned / Service level (reset by its reloads and restarts). */
  renderAsteriskCounters(section, name) {
    const q = this.state.queues.get(name) ?? {};
    setText(section.stats.completed, number(q.completed ?? 0));
    setText(section.stats.abandoned, number(q.abandoned ?? 0));
    const perf = q.serviceLevelPerf;
    // Asterisk reports 0% before its first call: no calls yet is no figure, not a failure.
    const noCalls = !(q.completed || q.abandoned);
    setText(section.stats.sl, perf == null || noCalls ? '–' : percent(Math.round(perf)));
    const title = t('queue.answeredWithin', { seconds: number(section.serviceLevel) });
    if (section.stats.sl.title !== title) section.stats.sl.title = title;
  }

  renderCallers(section, callers) {
    const sorted = [...callers].sort((a, b) => a.position - b.position);
    setText(section.stats.waiting, number(sorted.length));
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
        : caller.callerIdNum || caller.callerIdName || t('queue.unknownCaller'));
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
      setText(more, t('common.more', { count: number(hidden) }));
    } else if (more) {
      more.remove();
    }
  }

  /** The member counts in the headers of `names` (counted for every queue at once). */
  renderQueueCounts(names) {
    if (!names.size) return;
    const byQueue = memberCountsByQueue(this.state.operators.values());
    for (const name of names) {
      const section = this.sections.get(name);
      if (!section) continue;
      const counts = byQueue.get(name) ?? emptyCounts();
      setText(section.stats.available, `${number(counts.available)}/${number(counts.total)}`);
      setText(section.stats.ringing, number(counts.ringing));
      setText(section.stats.inCall, number(counts.inCall));
      setText(section.stats.paused, number(counts.paused));
      setText(section.stats.unavailable, number(counts.unavailable));
    }
  }

  // --- operators ------------------------------------------------------------

  renderOperator(memberId) {
    const op = this.state.operators.get(memberId);
    const had = this.tilesOf.get(memberId) ?? new Set();
    const now = this.state.now();
    const memberships = op ? this.shownMemberships(op) : [];
    const queues = new Set(memberships.map((m) => m.queueName));
    for (const name of had) {
      if (!queues.has(name)) this.removeTile(name, memberId);
    }
    if (!op || !queues.size) {
      this.tilesOf.delete(memberId);
      return;
    }
    this.tilesOf.set(memberId, queues);
    for (const membership of memberships) {
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
    if (this.density === 'cells') el.tabIndex = 0;
    tile = {
      el,
      name: el.querySelector('.name'),
      ext: el.querySelector('.ext'),
      icon: el.querySelector('.state-icon'),
      label: el.querySelector('.label-text'),
      timer: el.querySelector('.timer'),
      detail: el.querySelector('.detail'),
      memberId: op.memberId,
      queueName,
      section,
      key: '',
      since: null,
      until: null,
      // What the order is decided on (sorting.js).
      sort: { memberId: op.memberId, name: op.memberName || op.memberId, ext: extension(op.memberId), key: '', since: null },
    };
    this.tiles.set(key, tile);
    this.tileOfEl.set(el, tile);
    section.memberIds.add(op.memberId);
    this.insertSorted(section, tile);
    this.needsLayout = true;
    this.onTile?.(tile);
    return tile;
  }

  /** Put a tile at its place in its queue (binary search over the siblings' sort keys). */
  insertSorted(section, tile) {
    const siblings = section.tilesEl.children;
    let lo = 0;
    let hi = siblings.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const other = this.tileOfEl.get(siblings[mid]);
      if (other === tile || (other && this.compareTiles(other.sort, tile.sort) < 0)) lo = mid + 1;
      else hi = mid;
    }
    const before = siblings[lo] ?? null;
    if (before !== tile.el) section.tilesEl.insertBefore(tile.el, before);
  }

  /** After its sort key changed: move the tile only if it is out of place. */
  keepSorted(tile) {
    const prev = tile.el.previousElementSibling;
    const next = tile.el.nextElementSibling;
    const prevTile = prev && this.tileOfEl.get(prev);
    const nextTile = next && this.tileOfEl.get(next);
    if ((!prevTile || this.compareTiles(prevTile.sort, tile.sort) <= 0)
      && (!nextTile || this.compareTiles(tile.sort, nextTile.sort) <= 0)) return;
    const focused = tile.el.contains(this.doc.activeElement) ? this.doc.activeElement : null;
    tile.el.remove();
    this.insertSorted(tile.section, tile);
    focused?.focus({ preventScroll: true }); // the keyboard stays where it was
    this.moved = true;
  }

  removeTile(queueName, memberId) {
    const key = `${queueName}\n${memberId}`;
    const tile = this.tiles.get(key);
    if (tile) {
      tile.el.remove();
      this.tiles.delete(key);
      this.needsLayout = true;
      if (this.popped === tile) this.onPopped?.(null);
    }
    this.sections.get(queueName)?.memberIds.delete(memberId);
  }

  updateTile(tile, op, membership, now) {
    const view = tileState(op, membership, now);
    const label = this.labels[view.key];
    if (tile.key !== view.key) {
      if (tile.key) tile.el.classList.remove(`st-${tile.key}`);
      tile.el.classList.add(`st-${view.key}`);
      tile.el.dataset.state = view.key;
      tile.key = view.key;
      setText(tile.icon, STATE_ICONS[view.key]);
    }
    tile.el.classList.toggle('is-paused', view.paused && view.key !== 'paused');
    const name = op.memberName || op.memberId;
    const ext = extension(op.memberId);
    setText(tile.name, name);
    setText(tile.ext, ext);
    setText(tile.label, label);
    setText(tile.detail, this.detail(view, op));
    setAttr(tile.el, 'aria-label', t('tile.label', { name, extension: ext, state: label })
      + (view.reason && view.paused ? ` (${view.reason})` : ''));
    tile.since = view.since;
    tile.until = view.until ?? null;
    const sort = tile.sort;
    if (sort.name !== name || sort.key !== view.key || sort.since !== view.since) {
      tile.sort = { memberId: op.memberId, name, ext, key: view.key, since: view.since };
      this.keepSorted(tile);
    }
    this.updateTimer(tile, now);
    if (this.popped === tile) this.onPopped?.(tile);
  }

  detail(view, op) {
    if (view.key === 'paused') return view.reason || t('tile.noReason');
    if (view.key === 'in_call' || view.key === 'on_hold' || view.key === 'ringing') {
      const channel = op.currentChannel ? this.state.channels.get(op.currentChannel) : null;
      const party = channel?.connectedLineNum || channel?.callerIdNum || '';
      const paused = view.paused ? (view.reason ? t('tile.pausedBecause', { reason: view.reason }) : t('tile.pausedToo')) : '';
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
    const all = [...calls.values()];
    if (!this.queueFilter) return all;
    // A team screen: the calls of its queues and of its operators.
    return all.filter((call) => (call.queueName && this.shows(call.queueName))
      || (call.memberId && this.tilesOf.has(call.memberId)));
  }

  renderCalls() {
    const calls = this.calls().sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
    this.callCount = calls.length;
    setText(this.doc.getElementById('calls-count'), number(calls.length));
    this.doc.getElementById('calls-empty').hidden = calls.length > 0;
    const more = this.doc.getElementById('calls-more');
    more.hidden = calls.length <= this.maxCalls;
    setText(more, t('common.more', { count: number(Math.max(0, calls.length - this.maxCalls)) }));
    const shown = calls.slice(0, this.maxCalls);
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
        : caller?.callerIdNum || caller?.callerIdName || caller?.name || t('calls.call'));
      const agent = operator ? operator.memberName || operator.memberId : call.memberId;
      const phase = call.answeredAt ? 'talking' : call.ringing ? 'ringing' : call.queueName ? 'queued' : 'dialling';
      const phases = { talking: t('calls.talking'), ringing: t('calls.ringing'), queued: t('calls.queued'), dialling: t('calls.dialling') };
      setText(row.where, [call.queueName, agent].filter(Boolean).join(' → ') || phases[phase]);
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
      if (this.queueFilter && !this.tilesOf.has(op.memberId)) continue;
      const view = tileState(op, { paused: op.paused, pausedReason: op.pausedReason }, now);
      if (view.key === 'idle') totals.available += 1;
      else if (view.key === 'ringing') totals.ringing += 1;
      else if (view.key === 'in_call' || view.key === 'on_hold') totals.inCall += 1;
      else if (view.key === 'paused') totals.paused += 1;
      else if (view.key === 'unavailable') totals.unavailable += 1;
    }
    let waiting = 0;
    for (const q of this.state.queues.values()) if (this.shows(q.name)) waiting += q.callers?.length ?? 0;
    for (const [key, value] of Object.entries({ ...totals, waiting, calls: this.callCount ?? 0 })) {
      if (this.totals[key]) setText(this.totals[key], number(value));
    }
    this.doc.body.dataset.version = String(this.state.version);
  }

  // --- timers ---------------------------------------------------------------

  /** Whether a tile's timer is on screen (cells and the summary show none; other pages neither). */
  timerShown(tile) {
    return this.density !== 'cells' && this.density !== 'summary' && !tile.section.el.hidden;
  }

  tick(now) {
    for (const tile of this.tiles.values()) {
      // Wrap-up ends without an event: re-evaluate the tile when it is over.
      if (tile.until && tile.until <= now) this.state.dirty.operators.add(tile.memberId);
      if (this.timerShown(tile) || tile === this.popped) this.updateTimer(tile, now);
    }
    if (this.popped) this.onPopped?.(this.popped);
    for (const section of this.sections.values()) this.tickQueue(section, now);
    for (const row of this.callRows.values()) setText(row.time, duration(secondsSince(row.since, now)));
    setText(this.clockEl, clock(now));
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

  /** layout.js chose a density: cells are focusable (their details pop up), tiles are not. */
  setDensity(density) {
    if (density === this.density) return;
    const cells = density === 'cells';
    if (cells !== (this.density === 'cells')) {
      for (const tile of this.tiles.values()) {
        if (cells) tile.el.tabIndex = 0;
        else tile.el.removeAttribute('tabindex');
      }
    }
    this.density = density;
    if (!cells && this.popped) this.onPopped?.(null);
    this.tick(this.state.now()); // timers hidden until now are shown again
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
    const labels = { live: t('link.live'), connecting: t('link.connecting'), offline: t('link.offline'), auth: t('link.auth') };
    setText(el, labels[link.state] ?? link.state);
    const problem = link.state === 'offline' || link.state === 'auth';
    banner.hidden = !problem;
    this.doc.getElementById('board').classList.toggle('stale', problem);
    if (problem) {
      setText(this.doc.getElementById('banner-title'), link.title ?? t('banner.lost'));
      setText(this.doc.getElementById('banner-detail'), link.detail ?? '');
    }
  }
}
