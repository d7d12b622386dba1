// Today's figures from the call records (GraphQL `queueStats`), not Asterisk's counters:
// they survive Asterisk reloads and our own restarts. Each queue header's Completed,
// Abandoned and Service level show today's values (site time zone, server side), and a
// small inline SVG charts offered / answered / abandoned per 15 minutes.
//
// Read every REFRESH_MS, and soon (SOON_MS) after a queue changed on the live stream;
// never more often than SOON_MS. While the records cannot be read (database down), the
// headers keep Asterisk's own counters and say so in their tooltip.

import { number, percent, t } from './i18n.js';

const REFRESH_MS = 30_000;
const SOON_MS = 3_000;
const BUCKET_SECONDS = 900;
const SVG = 'http://www.w3.org/2000/svg';
const CHART_WIDTH = 96;
const CHART_HEIGHT = 24;
const NO_ROWS = Object.freeze([]);

export const TODAY_QUERY = `query WallboardToday($interval: Int, $pbx: String) {
  today: queueStats(pbx: $pbx) { queue completed abandoned answered serviceLevel serviceLevelSeconds }
  buckets: queueStats(interval: $interval, pbx: $pbx) { queue from offered answered abandoned }
}`;

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function setTitle(el, title) {
  if (el.title !== title) el.title = title;
}

/** Polyline points of `values` scaled to the chart, one point per bucket. */
function points(values, top) {
  const step = values.length > 1 ? CHART_WIDTH / (values.length - 1) : CHART_WIDTH;
  return values
    .map((value, index) => `${(index * step).toFixed(2)},${(CHART_HEIGHT - (value / top) * (CHART_HEIGHT - 1)).toFixed(2)}`)
    .join(' ');
}

export class TodayStats {
  /** `request(query, variables)` answers a GraphQL body; `view` is the WallboardView. */
  constructor({ doc, view, request }) {
    this.doc = doc;
    this.view = view;
    this.request = request;
    this.today = new Map(); // queue → today's row
    this.buckets = new Map(); // queue → [rows]
    this.available = null; // null: not read yet; false: the last read failed
    this.timer = 0;
    this.lastRead = 0;
    this.reading = false;
    this.soon = false; // a read is pending soon (poke)
  }

  start() {
    void this.refresh();
  }

  /** A queue changed on the live stream: read again soon (at most once per SOON_MS). */
  poke() {
    if (this.reading || this.soon) return;
    this.soon = true;
    this.schedule(Math.max(250, this.lastRead + SOON_MS - Date.now()));
  }

  schedule(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), delay);
  }

  async refresh() {
    this.soon = false;
    this.reading = true;
    this.lastRead = Date.now();
    try {
      const body = await this.request(TODAY_QUERY, { interval: BUCKET_SECONDS });
      if (!body?.data || body.errors?.length) throw new Error(body?.errors?.[0]?.message || 'no data');
      this.today = new Map(body.data.today.map((row) => [row.queue, row]));
      this.buckets = new Map();
      for (const row of body.data.buckets) {
        if (!this.buckets.has(row.queue)) this.buckets.set(row.queue, []);
        this.buckets.get(row.queue).push(row);
      }
      this.available = true;
    } catch {
      this.available = false; // the headers keep Asterisk's counters meanwhile
    } finally {
      this.reading = false;
      this.schedule(REFRESH_MS);
    }
    for (const [name, section] of this.view.sections) this.decorate(section, name);
  }

  /** Called by the view after it rendered a queue header from the live state. */
  decorate(section, name) {
    const row = this.available ? this.today.get(name) : null;
    section.el.dataset.todaySource = row ? 'records' : 'asterisk';
    if (!row) {
      // Today's figures of an earlier read may be on screen: put Asterisk's back.
      this.view.renderAsteriskCounters(section, name);
      setTitle(section.stats.completed, this.available === false ? t('stats.asteriskNoRecords') : t('stats.asterisk'));
      setTitle(section.stats.abandoned, section.stats.completed.title);
      section.el.querySelector('svg.today-chart')?.remove();
      return;
    }
    setText(section.stats.completed, number(row.completed));
    setText(section.stats.abandoned, number(row.abandoned));
    setTitle(section.stats.completed, t('stats.todayRecords'));
    setTitle(section.stats.abandoned, t('stats.todayRecords'));
    setText(section.stats.sl, row.serviceLevel == null ? '–' : percent(Math.round(row.serviceLevel)));
    setTitle(section.stats.sl, row.serviceLevelSeconds == null
      ? t('stats.slUnknown')
      : t('stats.slToday', { seconds: number(row.serviceLevelSeconds) }));
    this.chart(section, this.buckets.get(name) ?? NO_ROWS);
  }

  chart(section, rows) {
    // The same read's rows are on the chart already (a live change re-decorates the header).
    if (section.chartRows === rows && section.el.querySelector('svg.today-chart')) return;
    section.chartRows = rows;
    let svg = section.el.querySelector('svg.today-chart');
    if (!svg) {
      svg = this.doc.createElementNS(SVG, 'svg');
      svg.setAttribute('class', 'today-chart');
      svg.setAttribute('viewBox', `0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`);
      svg.setAttribute('preserveAspectRatio', 'none');
      svg.setAttribute('role', 'img');
      const title = this.doc.createElementNS(SVG, 'title');
      svg.append(title);
      // Offered last, on top: it is never under the other two, and a quiet day's
      // baseline stays neutral rather than red.
      for (const series of ['abandoned', 'answered', 'offered']) {
        const line = this.doc.createElementNS(SVG, 'polyline');
        line.setAttribute('class', series);
        line.dataset.series = series;
        svg.append(line);
      }
      section.el.querySelector('.queue-head').append(svg);
    }
    const top = Math.max(1, ...rows.map((row) => row.offered));
    const total = (key) => rows.reduce((sum, row) => sum + row[key], 0);
    svg.querySelector('title').textContent = t('stats.chart', {
      offered: number(total('offered')),
      answered: number(total('answered')),
      abandoned: number(total('abandoned')),
    });
    for (const line of svg.querySelectorAll('polyline')) {
      line.setAttribute('points', points(rows.map((row) => row[line.dataset.series]), top));
    }
  }
}
