// Alert marks: the `alerts` subscription (firing first, then firing/resolved events)
// turned into a visible mark on the queue header or the operator tile concerned, with
// an accessible label saying what fired. The view's sections and tiles are looked up
// by name; the marks are re-applied whenever the alerts or the board's elements change
// (a tile created after its alert fired gets its mark at the next frame).

import { t } from './i18n.js';
import { withPbx } from './pbx.js';

const ALERTS_SUBSCRIPTION = `subscription WallboardAlerts($pbx: String) {
  alerts(initial: true, pbx: $pbx) { state subject subjectType queue value threshold since text rule { id name } }
}`;

export class AlertMarks {
  /** @param {import('./view.js').WallboardView} view */
  constructor(view) {
    this.view = view;
    /** @type {Map<string, any>} `${ruleId}\n${subjectType}\n${subject}` → the firing alert */
    this.firing = new Map();
    /** @type {Set<HTMLElement>} elements marked now */
    this.marked = new Set();
    this.dirty = false;
    this.seenLayout = '';
    this.stop = null;
  }

  /** Subscribe over a newly opened socket (it re-sends what fires now). */
  subscribe(socket) {
    this.stop?.();
    this.firing.clear();
    this.dirty = true;
    this.stop = socket.subscribe(
      { query: ALERTS_SUBSCRIPTION, operationName: 'WallboardAlerts', variables: withPbx() },
      {
        next: (result) => {
          if (result.data?.alerts) this.apply(result.data.alerts);
        },
        // Refused (a token without read access) or cut off: the next `open` subscribes again.
        error: () => { this.stop = null; },
        complete: () => { this.stop = null; },
      },
    );
  }

  apply(alert) {
    const key = `${alert.rule.id}\n${alert.subjectType}\n${alert.subject}`;
    if (alert.state === 'FIRING') this.firing.set(key, alert);
    else this.firing.delete(key);
    this.dirty = true;
  }

  /** Once per animation frame: re-mark when the alerts or the board's elements changed. */
  frame() {
    const layout = `${this.view.sections.size}/${this.view.tiles.size}`;
    if (!this.dirty && layout === this.seenLayout) return;
    this.dirty = false;
    this.seenLayout = layout;
    this.render();
  }

  render() {
    const labels = new Map(); // element → the texts of its alerts
    const add = (el, alert) => {
      if (!el) return;
      if (!labels.has(el)) labels.set(el, []);
      labels.get(el).push(alert.text);
    };
    for (const alert of this.firing.values()) {
      if (alert.subjectType === 'QUEUE') {
        add(this.view.sections.get(alert.subject)?.el, alert);
      } else {
        for (const queueName of this.view.tilesOf.get(alert.subject) ?? []) {
          if (alert.queue && alert.queue !== queueName) continue;
          add(this.view.tiles.get(`${queueName}\n${alert.subject}`)?.el, alert);
        }
      }
    }
    for (const el of this.marked) if (!labels.has(el)) unmark(el);
    for (const [el, texts] of labels) mark(el, texts);
    this.marked = new Set(labels.keys());
  }
}

/** Where the mark goes: before the queue's name in its header, before the operator's on a tile. */
function markHost(el) {
  return el.querySelector(':scope > .queue-head, :scope > .tile-top') ?? el;
}

function mark(el, texts) {
  el.classList.add('has-alert');
  const host = markHost(el);
  let badge = host.querySelector(':scope > .alert-mark');
  if (!badge) {
    badge = el.ownerDocument.createElement('span');
    badge.className = 'alert-mark';
    badge.setAttribute('role', 'img');
    badge.textContent = '⚠';
    host.prepend(badge);
  }
  const label = t('alert.label', { alerts: texts.join('; ') });
  if (badge.getAttribute('aria-label') !== label) {
    badge.setAttribute('aria-label', label);
    badge.title = label;
  }
}

function unmark(el) {
  el.classList.remove('has-alert');
  const host = markHost(el);
  host.querySelector(':scope > .alert-mark')?.remove();
}
