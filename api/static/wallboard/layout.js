// How the board fills the screen: a wall TV cannot scroll.
//
// By default (`auto`) the board tries, from the most legible down, full tiles, then
// compact tiles (name and state), then coloured cells (extension and a state glyph),
// each with the queue sections flowing in 1, 2, … columns, and takes the first that
// fits the window; then it grows the tiles as far as they still fit. When even cells
// do not fit, or when asked (`?rotate=N`, `?density=comfortable|compact|cells`), the
// queues are split into pages shown in turn every N seconds with a page indicator.
// Live updates never reset the page. All of this runs only when tiles come or go or
// the window changes size, never per change: each try is one synchronous layout.

import { number, t } from './i18n.js';

const WALL_MIN_WIDTH = 1100; // narrower: a laptop or phone, which may scroll
// [CSS variable, smallest legible, largest useful, size when paging] in px.
const SIZES = {
  full: ['--tile-w', 150, 300, 200],
  compact: ['--tile-w', 118, 240, 160],
  cells: ['--cell-w', 42, 96, 52],
};
// A queue section narrower than this (rem) would wrap its header.
const SECTION_MIN_REM = { full: 32, compact: 24, cells: 13.5, summary: 30 };
const DEFAULT_ROTATE_S = 20;
const GROW_STEPS = 6;
const CALL_ROW_REM = 2.9;

/** The width of an element's text as laid out whole (scrollWidth rounds, and hides a cut). */
function textWidth(el) {
  const range = el.ownerDocument.createRange();
  range.selectNodeContents(el);
  return range.getBoundingClientRect().width;
}

export class BoardLayout {
  /** @param {{doc: Document, view: import('./view.js').WallboardView, address: any}} options */
  constructor({ doc, view, address }) {
    this.doc = doc;
    this.view = view;
    this.address = address;
    this.root = doc.documentElement;
    this.board = doc.getElementById('board');
    this.queuesEl = doc.getElementById('queues');
    this.callsPanel = doc.querySelector('.calls-panel');
    this.pager = doc.getElementById('pager');
    this.indicator = doc.getElementById('page-indicator');
    this.dots = doc.getElementById('page-dots');
    /** @type {string[][]} queue names per page */
    this.pages = [];
    this.page = 0;
    this.timer = 0;
    this.interval = (address.rotate ?? DEFAULT_ROTATE_S) * 1000;
    this.wholeNames = true;
    // Headers gain controls and charts after the fit (console.js, stats.js): look again
    // when the queues outgrow the room, never for a change that still fits.
    new ResizeObserver(() => {
      if (!this.fitting && window.innerWidth >= WALL_MIN_WIDTH && !this.fits()) this.view.relayout();
    }).observe(this.queuesEl);
    // The header's totals lose their words (kept for screen readers) when the line is too
    // short for them, e.g. once the pager takes its room: a figure is never cut.
    this.totals = doc.getElementById('totals');
    new ResizeObserver(() => this.fitTotals()).observe(this.totals);
    doc.getElementById('page-prev').addEventListener('click', () => this.turn(-1, true));
    doc.getElementById('page-next').addEventListener('click', () => this.turn(1, true));
  }

  // --- choosing -------------------------------------------------------------------

  /** Choose density, columns, tile size and pages for the board as it is now. */
  fit() {
    this.fitting = true;
    try {
      this.choose();
    } finally {
      this.fitting = false;
    }
  }

  choose() {
    this.findLongestName();
    const names = [...this.view.sections.keys()];
    for (const section of this.view.sections.values()) section.el.hidden = false;
    const { view, density, rotate } = this.address;
    if (window.innerWidth < WALL_MIN_WIDTH) {
      // A small screen scrolls: one column, the asked density or full tiles.
      const narrow = view === 'summary' ? 'summary' : density === 'compact' || density === 'cells' ? density : 'full';
      this.doc.body.dataset.paged = '0';
      this.apply(narrow, 1, SIZES[narrow]?.[3]);
      this.setPages([names.map((name) => ({ name, start: 0, end: Infinity }))]);
      return;
    }
    this.doc.body.dataset.paged = '0';
    this.wholeNames = true;
    const chosen = view === 'summary' ? this.fitAll(['summary'])
      : density === 'auto' && !rotate ? this.fitAuto()
        : this.fitNamed([density === 'auto' || density === 'comfortable' ? 'full' : density]);
    if (chosen) {
      this.setPages([names.map((name) => ({ name, start: 0, end: Infinity }))]);
    } else {
      // Pages of the asked density; in `auto`, of the cells that did not fit all at
      // once (with ?rotate, of full tiles: pages rather than smaller tiles).
      const paging = view === 'summary' ? 'summary'
        : density === 'auto' ? (rotate ? 'full' : 'cells')
          : density === 'comfortable' ? 'full' : density;
      this.setPages(this.paginate(paging, names));
    }
    this.fitCalls();
  }

  /** Set a density, a number of columns and a tile size; no layout is read here. */
  apply(density, cols, size) {
    const body = this.doc.body;
    if (body.dataset.density !== density) body.dataset.density = density;
    this.root.style.setProperty('--cols', String(cols));
    const sizing = SIZES[density];
    if (sizing && size) this.root.style.setProperty(sizing[0], `${Math.floor(size)}px`);
    this.cols = cols;
    this.view.setDensity(density);
  }

  /** Height (px) the queues may take: down to the board's bottom edge. */
  room() {
    const top = this.queuesEl.getBoundingClientRect().top;
    const board = this.board.getBoundingClientRect();
    return board.bottom - parseFloat(getComputedStyle(this.board).paddingBottom) - top;
  }

  /** Whether the board fits the room; `names`: also the longest name shows whole. */
  fits({ names = this.wholeNames } = {}) {
    if (this.queuesEl.getBoundingClientRect().height > this.room() + 0.5) return false;
    if (!names) return true;
    // Tiles with names: the longest name must show whole (the tiles' font grows with them).
    const name = this.longestName;
    const named = this.doc.body.dataset.density === 'full' || this.doc.body.dataset.density === 'compact';
    if (!named || !name?.isConnected) return true;
    const box = name.getBoundingClientRect();
    const whole = textWidth(name) <= box.width + 0.25 && box.right <= name.parentElement.getBoundingClientRect().right - 1;
    if (!whole) this.namesCut = true;
    return whole;
  }

  /** The name element with the longest text (the first to be cut as tiles shrink). */
  findLongestName() {
    let longest = null;
    let length = -1;
    for (const tile of this.view.tiles.values()) {
      const text = tile.name.textContent;
      if (text.length > length) {
        length = text.length;
        longest = tile.name;
      }
    }
    this.longestName = longest;
  }

  maxCols(density) {
    const rem = parseFloat(getComputedStyle(this.root).fontSize);
    const width = this.queuesEl.clientWidth;
    const gap = rem;
    const sections = Math.max(1, this.view.sections.size);
    return Math.max(1, Math.min(sections, Math.floor((width + gap) / (SECTION_MIN_REM[density] * rem + gap))));
  }

  /** `auto`: full or compact tiles (fitNamed), else cells. */
  fitAuto() {
    return this.fitNamed(['full', 'compact']) || this.fitAll(['cells']);
  }

  /**
   * Tiles with every name whole; else, when only names were cut (not the height), tiles
   * with the longest names cut: a name as long as a tile is wide at any size ("Hannah
   * Okafor") must not turn a few operators into cells or pages.
   */
  fitNamed(order) {
    this.namesCut = false;
    if (this.fitAll(order)) return true;
    if (!this.namesCut) return false;
    this.wholeNames = false; // kept while this layout is on (the resize watch asks fits())
    return this.fitAll(order);
  }

  /**
   * The first density in which every queue fits at once, in the column count that gives
   * the largest tiles (the fewest columns on a tie), grown; false if none. Every count is
   * tried: which one fits depends on the headers' height, and a name cut at the smallest
   * size may show whole at a larger one (the tiles share out a row's slack: 1fr).
   */
  fitAll(order) {
    for (const density of order) {
      const sizing = SIZES[density];
      this.apply(density, 1, sizing?.[1]);
      const most = this.maxCols(density);
      let best = null;
      for (let cols = 1; cols <= most; cols += 1) {
        if (!sizing) {
          this.apply(density, cols);
          if (this.fits()) return true;
          continue;
        }
        const size = this.largest(density, cols);
        if (size != null && (best == null || size > best.size)) best = { cols, size };
      }
      if (best) {
        this.apply(density, best.cols, best.size);
        return true;
      }
    }
    return false;
  }

  /** The largest tile size at which the board fits in `cols` columns, or null. */
  largest(density, cols) {
    const [, min] = SIZES[density];
    this.apply(density, cols, min);
    if (!this.fits({ names: false })) return null; // too tall even with the smallest tiles
    const tallest = this.grow(density, cols, { names: false });
    this.apply(density, cols, tallest);
    if (this.fits()) return tallest;
    this.apply(density, cols, min);
    return this.fits() ? this.grow(density, cols, { names: this.wholeNames, max: tallest }) : null;
  }

  /** The largest tile size that still fits (binary search, a few layouts); left applied. */
  grow(density, cols, { names = this.wholeNames, max } = {}) {
    const [, min, largest] = SIZES[density];
    let lo = min;
    let hi = max ?? largest;
    this.apply(density, cols, hi);
    if (this.fits({ names })) return hi;
    for (let step = 0; step < GROW_STEPS && hi - lo > 1; step += 1) {
      const mid = (lo + hi) / 2;
      this.apply(density, cols, mid);
      if (this.fits({ names })) lo = mid;
      else hi = mid;
    }
    this.apply(density, cols, lo);
    return Math.floor(lo);
  }

  /**
   * Pages of [{name, start, end}]: the queues in order, filling the columns of a page one
   * after another; a queue taller than what is left of a column goes on in the next one
   * (and on the next page), cut between rows of tiles. On screen the columns fill in the
   * same order (CSS column-fill: auto, body[data-paged="1"]).
   */
  paginate(density, names) {
    this.apply(density, 1, SIZES[density]?.[3]);
    const cols = this.maxCols(density);
    this.apply(density, cols, SIZES[density]?.[3]);
    const room = this.room() - 2;
    const gap = parseFloat(getComputedStyle(this.view.sections.get(names[0])?.el ?? this.root).marginBottom) || 0;
    const pages = [];
    let page = [];
    let col = 0;
    let used = 0;
    const nextColumn = () => {
      col += 1;
      used = 0;
      if (col >= cols) {
        pages.push(page);
        page = [];
        col = 0;
      }
    };
    const add = (name, start, end) => {
      const last = page[page.length - 1];
      if (last?.name === name && last.end === start) last.end = end; // the same queue flowing on
      // A queue begun at the top of a column after the first: CSS must break there too (a
      // short queue's leftover room would otherwise take the next queue's start).
      else page.push({ name, start, end, newColumn: col > 0 && used === 0 });
    };
    for (const name of names) {
      const section = this.view.sections.get(name);
      const tiles = section.tilesEl.children;
      const splittable = tiles.length > 0 && section.tilesEl.offsetParent !== null;
      const head = section.el.offsetHeight - (splittable ? section.tilesEl.offsetHeight : 0) + gap;
      if (!splittable) {
        if (used > 0 && used + head > room) nextColumn();
        add(name, 0, Infinity);
        used += head;
        continue;
      }
      const top = tiles[0].offsetTop;
      let perRow = 0;
      while (perRow < tiles.length && tiles[perRow].offsetTop === top) perRow += 1;
      const pitch = tiles.length > perRow ? tiles[perRow].offsetTop - top : tiles[0].offsetHeight;
      let start = 0;
      while (start < tiles.length) {
        if (used > 0 && used + head + pitch > room) nextColumn();
        const rows = Math.max(1, Math.floor((room - used - head) / pitch));
        const end = Math.min(tiles.length, start + rows * perRow);
        add(name, start, end);
        used += head + Math.ceil((end - start) / perRow) * pitch;
        start = end;
        if (start < tiles.length) nextColumn();
      }
    }
    if (page.length) pages.push(page);
    this.doc.body.dataset.paged = pages.length > 1 ? '1' : '0';
    this.root.style.setProperty('--page-h', `${Math.floor(room)}px`);
    return pages;
  }

  /** As many call rows as the side panel has room for (the rest is "+N more"). */
  fitCalls() {
    const rem = parseFloat(getComputedStyle(this.root).fontSize);
    const row = this.doc.querySelector('#calls .call')?.getBoundingClientRect().height ?? CALL_ROW_REM * rem;
    const heading = this.callsPanel.querySelector('h2').getBoundingClientRect().height;
    const room = this.board.clientHeight - heading - 6 * rem;
    const rows = Math.max(1, Math.floor(room / (row + 0.3 * rem)));
    if (rows !== this.view.maxCalls) {
      this.view.maxCalls = rows;
      this.view.renderCalls();
    }
  }

  /** Words beside the header's totals only while they all fit on the line. */
  fitTotals() {
    this.totals.classList.remove('terse');
    if (this.totals.scrollWidth > this.totals.clientWidth + 1) this.totals.classList.add('terse');
  }

  // --- pages ----------------------------------------------------------------------

  /** New pages; the page shown stays the one with the same first queue (a live update keeps it). */
  setPages(pages) {
    const first = this.pages[this.page]?.[0];
    this.pages = pages.length ? pages : [[]];
    const keep = first == null ? -1
      : this.pages.findIndex((page) => page.some((part) => part.name === first.name && part.start <= first.start && first.start < part.end));
    this.page = keep >= 0 ? keep : Math.min(this.page, this.pages.length - 1);
    this.doc.body.dataset.pages = String(this.pages.length);
    const paged = this.pages.length > 1;
    this.pager.hidden = !paged;
    if (paged && !this.timer) this.timer = setInterval(() => this.turn(1), this.interval);
    if (!paged && this.timer) {
      clearInterval(this.timer);
      this.timer = 0;
    }
    this.show();
  }

  /** Only the part's tiles of a queue cut over pages (a class per tile that changes). */
  showTiles(section, part) {
    if (part.start === 0 && part.end === Infinity && !section.cut) return;
    section.cut = !(part.start === 0 && part.end === Infinity);
    const tiles = section.tilesEl.children;
    for (let index = 0; index < tiles.length; index += 1) {
      const off = index < part.start || index >= part.end;
      if (tiles[index].classList.contains('off-page') !== off) tiles[index].classList.toggle('off-page', off);
    }
  }

  /** Tiles moved (a sort by state): the cut queues of this page show their part again. */
  restyle() {
    if (this.pages.length < 2) return;
    for (const part of this.pages[this.page] ?? []) {
      const section = this.view.sections.get(part.name);
      if (section?.cut) this.showTiles(section, part);
    }
  }

  /** The next (+1) or previous (-1) page; `byHand` restarts the rotation's count. */
  turn(step, byHand = false) {
    if (this.pages.length < 2) return;
    this.page = (this.page + step + this.pages.length) % this.pages.length;
    if (byHand && this.timer) {
      clearInterval(this.timer);
      this.timer = setInterval(() => this.turn(1), this.interval);
    }
    this.show();
  }

  show() {
    const parts = new Map((this.pages[this.page] ?? []).map((part) => [part.name, part]));
    const paged = this.pages.length > 1;
    for (const [name, section] of this.view.sections) {
      const part = paged ? parts.get(name) : { start: 0, end: Infinity };
      // A section shown again fades in (CSS; not with prefers-reduced-motion).
      const hidden = !part;
      if (section.el.hidden !== hidden) section.el.hidden = hidden;
      section.el.classList.toggle('new-column', Boolean(part?.newColumn));
      if (part) this.showTiles(section, part);
    }
    this.doc.body.dataset.page = String(this.page + 1);
    if (!paged) return;
    const label = t('pager.page', { page: number(this.page + 1), pages: number(this.pages.length) });
    this.indicator.textContent = label;
    // Dots while they are few enough to count at a glance; the words say it anyway.
    this.dots.textContent = this.pages.length > 10 ? ''
      : this.pages.map((_, index) => (index === this.page ? '●' : '○')).join('');
    this.view.tick(this.view.state.now()); // the timers of the page now shown
  }
}
