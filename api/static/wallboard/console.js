// The supervisor console on the board: what the token may do, a panel per
// operator tile and an "add member" form per queue.
//
// The `access` query says what the token grants; without `canSupervise` no
// control is created at all (a viewer's board has no buttons), the admin-only
// ones need `canManageMembers`. Every action is one GraphQL mutation; its
// answer (or Asterisk's refusal) is written on the tile it was started from.
// The tile's state itself still comes only from the live subscription: the
// console never edits the LiveState, so what a tile shows is what Asterisk
// reported. In cell density a cell has no room for the ⋯ button: the cell itself
// (click, or Enter / Space when it has the keyboard focus) opens the panel.

import { t } from './i18n.js';

const ACCESS_QUERY = `query WallboardAccess($pbx: String) {
  access(pbx: $pbx) { role queues extension canSupervise canManageMembers pauseReasons actionsEnabled }
}`;
const RESULT = `action pending asteriskMessage version
  operator { memberId memberName queues { queueName paused pausedReason penalty } }
  queue { name }`;
const MUTATIONS = {
  pause: ['pauseOperator', 'PauseOperatorInput'],
  unpause: ['unpauseOperator', 'UnpauseOperatorInput'],
  penalty: ['setMemberPenalty', 'SetMemberPenaltyInput'],
  remove: ['removeQueueMember', 'RemoveQueueMemberInput'],
  add: ['addQueueMember', 'AddQueueMemberInput'],
  listen: ['listenToOperator', 'ListenToOperatorInput'],
};
const NOTE_MS = 8_000; // how long a result stays on the tile
const ERROR_NOTE_MS = 30_000; // an error stays longer: someone has to read it
const MAX_REASON = 80;
const MAX_PENALTY = 2_147_483_647;
const NO_ACCESS = Object.freeze({
  role: null, queues: null, extension: null, canSupervise: false, canManageMembers: false,
  pauseReasons: [], actionsEnabled: false,
});

/** The mutation document of one action, e.g. `mutation WallboardPause($input: …) { pauseOperator … }`. */
function mutation(kind) {
  const [field, input] = MUTATIONS[kind];
  const name = `Wallboard${kind[0].toUpperCase()}${kind.slice(1)}`;
  return `mutation ${name}($input: ${input}!, $pbx: String) { ${field}(input: $input, pbx: $pbx) { ${RESULT} } }`;
}

/** An action the server refused: its code and, when Asterisk answered, Asterisk's words. */
export class ActionError extends Error {
  constructor(message, code = null, asteriskMessage = null) {
    super(message);
    this.code = code;
    this.asteriskMessage = asteriskMessage;
  }

  /** What the tile says: Asterisk's own words first. */
  get text() {
    const words = this.asteriskMessage || this.message;
    return this.code ? `${words} (${this.code})` : words;
  }
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Call `onClosed` as soon as `dialog` is closed, whichever way (Escape, close(), a form): its
 * `open` attribute goes at once, but its close event is only queued, so a quick Escape then
 * Enter can open it again before that event, and anything read in between would be stale.
 */
function whenClosed(dialog, onClosed) {
  new MutationObserver(() => {
    if (!dialog.open) onClosed();
  }).observe(dialog, { attributes: true, attributeFilter: ['open'] });
}

function displayName(op, memberId) {
  return op?.memberName || memberId;
}

export class SupervisorConsole {
  /**
   * @param {{ doc: Document, state: import('./state.js').LiveState,
   *   view: import('./view.js').WallboardView,
   *   request: (query: string, variables?: object) => Promise<{data?: any, errors?: any[]}> }} options
   */
  constructor({ doc, state, view, request }) {
    this.doc = doc;
    this.state = state;
    this.view = view;
    this.request = request;
    this.access = NO_ACCESS;
    this.accessSeq = 0;
    /** The panel's subject: { tile, button, memberId, queueName } */
    this.subject = null;
    this.addQueue = null;
    this.addButton = null;
    this.busy = false;

    const byId = (id) => doc.getElementById(id);
    this.panel = byId('member-panel');
    this.panelEls = {
      title: byId('member-panel-title'),
      id: byId('member-panel-id'),
      queue: byId('mp-queue'),
      reasonLabel: this.panel.querySelector('label[for="mp-reason"]'),
      reason: byId('mp-reason'),
      reasonText: byId('mp-reason-text'),
      penalty: byId('mp-penalty'),
      extension: byId('mp-extension'),
      listen: byId('mp-listen'),
      status: byId('mp-status'),
      error: byId('mp-error'),
    };
    this.addDialog = byId('add-member');
    this.addForm = byId('add-member-form');
    this.addEls = {
      title: byId('add-member-title'),
      interface: byId('am-interface'),
      name: byId('am-name'),
      stateInterface: byId('am-state'),
      penalty: byId('am-penalty'),
      paused: byId('am-paused'),
      status: byId('am-status'),
      error: byId('am-error'),
    };

    view.onTile = (tile) => this.decorateTile(tile);
    view.onSection = (section, name) => this.decorateSection(section, name);
    this.setUpPanel();
    this.setUpAddMember();
  }

  get canSupervise() {
    return Boolean(this.access.canSupervise && this.access.actionsEnabled);
  }

  get canManage() {
    return this.canSupervise && Boolean(this.access.canManageMembers);
  }

  // --- access ---------------------------------------------------------------

  /** Ask the server what the current token grants; the controls follow. Never throws. */
  async refreshAccess() {
    const seq = ++this.accessSeq;
    let access = NO_ACCESS;
    try {
      const body = await this.request(ACCESS_QUERY);
      if (body?.data?.access && !body.errors?.length) access = { ...NO_ACCESS, ...body.data.access };
    } catch {
      // Unreachable or refused: no controls until the next successful read.
    }
    if (seq !== this.accessSeq) return; // a newer token's answer wins
    this.applyAccess(access);
  }

  applyAccess(access) {
    const before = `${this.canSupervise}/${this.canManage}`;
    this.access = access;
    this.doc.body.classList.toggle('can-supervise', this.canSupervise);
    this.doc.body.classList.toggle('can-manage', this.canManage);
    // What the board offers, once known (also a hook for tests): none, supervise or manage.
    this.doc.body.dataset.console = this.canManage ? 'manage' : this.canSupervise ? 'supervise' : 'none';
    if (`${this.canSupervise}/${this.canManage}` === before) return;
    if (!this.canSupervise) {
      if (this.panel.open) this.panel.close();
      if (this.addDialog.open) this.addDialog.close();
    }
    for (const tile of this.view.tiles.values()) this.decorateTile(tile);
    for (const [name, section] of this.view.sections) this.decorateSection(section, name);
  }

  // --- controls on the board --------------------------------------------------

  /** Add (or take away) a tile's console button, as the access says. */
  decorateTile(tile) {
    if (!this.canSupervise) {
      tile.consoleButton?.remove();
      tile.consoleButton = null;
      tile.note?.remove();
      tile.note = null;
      return;
    }
    if (tile.consoleButton) return;
    const button = this.doc.createElement('button');
    button.type = 'button';
    button.className = 'tile-actions';
    button.textContent = '⋯';
    button.setAttribute('aria-haspopup', 'dialog');
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-controls', 'member-panel');
    const op = this.state.operators.get(tile.memberId);
    button.setAttribute('aria-label', t('console.actionsFor', { name: displayName(op, tile.memberId), queue: tile.queueName }));
    button.addEventListener('click', () => this.openPanel(tile, button));
    tile.el.querySelector('.tile-top').appendChild(button);
    tile.consoleButton = button;
    if (!tile.cellOpens) {
      // Cell density: the cell is the control (its ⋯ is hidden there).
      tile.cellOpens = true;
      const openFromCell = (event) => {
        if (this.view.density !== 'cells' || !this.canSupervise) return;
        if (event.type === 'keydown') {
          // The keyboard: the focused cell itself (not a key typed in something inside it).
          if (event.target !== tile.el || (event.key !== 'Enter' && event.key !== ' ')) return;
        } else if (event.target.closest('button, a, input, select')) {
          return; // a control inside the cell does its own job
        }
        // A click anywhere on the cell: mostly on its glyph or its extension, not its edge.
        event.preventDefault();
        this.openPanel(this.view.tileAt(tile.queueName, tile.memberId) ?? tile, tile.el);
      };
      tile.el.addEventListener('click', openFromCell);
      tile.el.addEventListener('keydown', openFromCell);
    }
  }

  /** Add (or take away) a queue's "Add member" button (admin only). */
  decorateSection(section, name) {
    const head = section.el.querySelector('.queue-head');
    if (!this.canManage) {
      section.addButton?.remove();
      section.addButton = null;
      return;
    }
    if (section.addButton) return;
    const button = this.doc.createElement('button');
    button.type = 'button';
    button.className = 'add-member';
    button.textContent = t('console.addMember');
    button.setAttribute('aria-haspopup', 'dialog');
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-controls', 'add-member');
    button.setAttribute('aria-label', t('add.titleFor', { queue: name }));
    button.addEventListener('click', () => this.openAddMember(name, button));
    head.appendChild(button);
    section.addButton = button;
  }

  /** Write a result (or an error) on a tile; it fades after a while. */
  note(tile, text, { error = false, persist = false } = {}) {
    if (!tile?.el.isConnected) return;
    let note = tile.note;
    if (!note) {
      note = this.doc.createElement('p');
      note.className = 'tile-note';
      tile.el.appendChild(note);
      tile.note = note;
    }
    // An alert is announced at once; a status when the reader is idle.
    note.setAttribute('role', error ? 'alert' : 'status');
    note.classList.toggle('is-error', error);
    note.hidden = false;
    setText(note, text);
    clearTimeout(note.timer);
    if (!persist) {
      note.timer = setTimeout(() => {
        note.hidden = true;
      }, error ? ERROR_NOTE_MS : NOTE_MS);
    }
  }

  // --- the operator panel -------------------------------------------------------

  setUpPanel() {
    const els = this.panelEls;
    whenClosed(this.panel, () => this.releaseSubject({ refocus: true }));
    this.doc.getElementById('mp-close').addEventListener('click', () => this.panel.close());
    els.queue.addEventListener('change', () => this.syncQueueFields());
    els.extension.addEventListener('input', () => this.syncListen());
    for (const button of this.panel.querySelectorAll('[data-action]')) {
      button.addEventListener('click', () => void this.panelAction(button.dataset.action, button.dataset.mode));
    }
    // Enter in a field does what the field is for.
    els.reasonText.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        void this.panelAction('pause');
      }
    });
    els.penalty.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        void this.panelAction('penalty');
      }
    });
  }

  openPanel(tile, button) {
    if (!this.canSupervise) return;
    // Closed and opened again in one task: the observer saw it open, the old subject ends here.
    this.releaseSubject();
    const op = this.state.operators.get(tile.memberId);
    const els = this.panelEls;
    this.subject = { tile, button, memberId: tile.memberId, queueName: tile.queueName };
    setText(els.title, displayName(op, tile.memberId));
    setText(els.id, tile.memberId);

    // Queues: the operator's (as far as this token sees them), then all of them.
    const queues = (op?.queues ?? []).map((m) => m.queueName);
    if (!queues.includes(tile.queueName)) queues.unshift(tile.queueName);
    els.queue.replaceChildren(
      ...queues.map((name) => new Option(name, name, false, name === tile.queueName)),
      new Option(queues.length > 1 ? t('console.allItsQueues') : t('console.allQueues'), ''),
    );

    // Reasons: the configured list, else free text.
    const reasons = this.access.pauseReasons ?? [];
    els.reason.hidden = reasons.length === 0;
    els.reasonText.hidden = reasons.length > 0;
    els.reasonLabel.htmlFor = reasons.length ? 'mp-reason' : 'mp-reason-text';
    els.reason.replaceChildren(new Option(t('console.noReason'), ''), ...reasons.map((r) => new Option(r, r)));
    els.reasonText.value = '';

    if (!els.extension.value) els.extension.value = this.access.extension ?? '';
    for (const el of this.panel.querySelectorAll('[data-needs="manage"]')) el.hidden = !this.canManage;
    this.panelMessage('');
    this.syncQueueFields();
    this.syncListen();
    button.setAttribute('aria-expanded', 'true');
    this.panel.showModal();
    els.queue.focus();
  }

  /** The panel no longer acts on its subject; `refocus` gives the keyboard back to its tile. */
  releaseSubject({ refocus = false } = {}) {
    const subject = this.subject;
    this.subject = null;
    if (!subject) return;
    subject.button.setAttribute('aria-expanded', 'false');
    if (!refocus) return;
    // Back to where the keyboard was: the membership's tile (its ⋯, or the cell), if still there.
    const tile = this.tileOf(subject);
    const target = subject.button === subject.tile.el ? tile.el : tile.consoleButton;
    if (target?.isConnected) target.focus();
  }

  /** The tile showing the subject now: a redraw may have replaced the one the panel came from. */
  tileOf(subject) {
    return this.view.tileAt(subject.queueName, subject.memberId) ?? subject.tile;
  }

  /** Penalty and remove need one queue; the penalty field shows the current one. */
  syncQueueFields() {
    const els = this.panelEls;
    const queue = els.queue.value;
    const op = this.state.operators.get(this.subject?.memberId);
    const membership = op?.queues.find((m) => m.queueName === queue);
    els.penalty.value = membership?.penalty != null ? String(membership.penalty) : '0';
    for (const button of this.panel.querySelectorAll('[data-action="penalty"], [data-action="remove"]')) {
      button.disabled = !queue;
    }
    els.penalty.disabled = !queue;
  }

  /** Listen, whisper and barge need a phone to ring: the token's or a typed one. */
  syncListen() {
    this.panelEls.listen.hidden = !this.panelEls.extension.value.trim();
  }

  panelMessage(text, error = false) {
    const { status, error: alert } = this.panelEls;
    setText(status, error ? '' : text);
    setText(alert, error ? text : '');
    alert.hidden = !error;
  }

  /** While an action runs, others wait (not `disabled`: that would take the focus away). */
  setBusy(busy) {
    this.busy = busy;
    this.panel.setAttribute('aria-busy', String(busy));
  }

  /** The input of a panel action, or an ActionError for what the form cannot send. */
  panelInput(kind, mode) {
    const els = this.panelEls;
    const { memberId } = this.subject;
    const queue = els.queue.value || null;
    switch (kind) {
      case 'pause': {
        const reason = (els.reason.hidden ? els.reasonText.value : els.reason.value).trim();
        if (reason.length > MAX_REASON || reason.includes('|')) {
          throw new ActionError(t('console.reasonTooLong', { max: MAX_REASON }));
        }
        return { memberId, queue, reason: reason || null };
      }
      case 'unpause':
        return { memberId, queue };
      case 'penalty': {
        const penalty = Number(els.penalty.value);
        if (!els.penalty.value.trim() || !Number.isInteger(penalty) || penalty < 0 || penalty > MAX_PENALTY) {
          throw new ActionError(t('console.badPenalty'));
        }
        return { queue, interface: memberId, penalty };
      }
      case 'remove':
        return { queue, interface: memberId };
      case 'listen': {
        const typed = els.extension.value.trim();
        // The token's own extension is the server's default: send only another one.
        const extension = typed && typed !== this.access.extension ? typed : null;
        return { memberId, mode, extension };
      }
      default:
        throw new ActionError(t('console.unknownAction', { action: kind }));
    }
  }

  async panelAction(kind, mode) {
    const subject = this.subject;
    if (!subject || this.busy) return;
    let input;
    try {
      input = this.panelInput(kind, mode);
    } catch (error) {
      this.panelMessage(error.message, true);
      return;
    }
    this.setBusy(true);
    this.panelMessage(t('console.sending'));
    this.note(this.tileOf(subject), t('console.sending'), { persist: true });
    try {
      const result = await this.run(kind, input);
      const text = describe(kind, input, result);
      this.note(this.tileOf(subject), text);
      if (this.subject === subject) this.panel.close(); // focus goes back to the tile's button
    } catch (error) {
      const text = error instanceof ActionError ? error.text : String(error.message ?? error);
      this.note(this.tileOf(subject), text, { error: true });
      if (this.subject === subject) this.panelMessage(text, true);
    } finally {
      this.setBusy(false);
    }
  }

  // --- add member ---------------------------------------------------------------

  setUpAddMember() {
    whenClosed(this.addDialog, () => this.releaseAddQueue({ refocus: true }));
    this.doc.getElementById('am-cancel').addEventListener('click', () => this.addDialog.close());
    this.addForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.addMember();
    });
  }

  openAddMember(queue, button) {
    if (!this.canManage) return;
    this.releaseAddQueue();
    const els = this.addEls;
    this.addQueue = queue;
    this.addButton = button;
    setText(els.title, t('add.titleFor', { queue }));
    this.addForm.reset();
    this.addMessage('');
    button.setAttribute('aria-expanded', 'true');
    this.addDialog.showModal();
    els.interface.focus();
  }

  /** The form no longer adds to its queue; `refocus` gives the keyboard back to its button. */
  releaseAddQueue({ refocus = false } = {}) {
    const button = this.addButton;
    this.addButton = null;
    this.addQueue = null;
    if (!button) return;
    button.setAttribute('aria-expanded', 'false');
    if (refocus && button.isConnected) button.focus();
  }

  addMessage(text, error = false) {
    const { status, error: alert } = this.addEls;
    setText(status, error ? '' : text);
    setText(alert, error ? text : '');
    alert.hidden = !error;
  }

  async addMember() {
    const queue = this.addQueue;
    if (!queue || this.busy) return;
    const els = this.addEls;
    const penalty = Number(els.penalty.value || '0');
    if (!Number.isInteger(penalty) || penalty < 0 || penalty > MAX_PENALTY) {
      this.addMessage(t('console.badPenalty'), true);
      return;
    }
    const input = {
      queue,
      interface: els.interface.value.trim(),
      memberName: els.name.value.trim() || null,
      stateInterface: els.stateInterface.value.trim() || null,
      penalty,
      paused: els.paused.checked,
    };
    const section = this.view.sections.get(queue);
    this.busy = true;
    this.addMessage(t('console.sending'));
    try {
      const result = await this.run('add', input);
      const text = describe('add', input, result);
      this.sectionNote(section, text);
      if (this.addQueue === queue) this.addDialog.close();
    } catch (error) {
      const text = error instanceof ActionError ? error.text : String(error.message ?? error);
      this.sectionNote(section, text, true);
      if (this.addQueue === queue) this.addMessage(text, true);
    } finally {
      this.busy = false;
    }
  }

  /** A queue's own note (added or removed members have no tile to write on). */
  sectionNote(section, text, error = false) {
    if (!section) return;
    let note = section.note;
    if (!note) {
      note = this.doc.createElement('p');
      note.className = 'queue-note';
      section.el.querySelector('.queue-head').after(note);
      section.note = note;
    }
    note.setAttribute('role', error ? 'alert' : 'status');
    note.classList.toggle('is-error', error);
    note.hidden = false;
    setText(note, text);
    clearTimeout(note.timer);
    note.timer = setTimeout(() => {
      note.hidden = true;
    }, error ? ERROR_NOTE_MS : NOTE_MS);
  }

  // --- the server -------------------------------------------------------------

  /** Run one mutation; its ActionResult, or an ActionError with the server's code. */
  async run(kind, input) {
    let body;
    try {
      body = await this.request(mutation(kind), { input });
    } catch (error) {
      throw new ActionError(t('console.unreachable', { error: error.message ?? error }), 'UNAVAILABLE');
    }
    const error = body?.errors?.[0];
    if (error) {
      const code = error.extensions?.code ?? null;
      if (code === 'UNAUTHENTICATED' || code === 'FORBIDDEN') void this.refreshAccess();
      throw new ActionError(error.message, code, error.extensions?.asteriskMessage ?? null);
    }
    const result = body?.data?.[MUTATIONS[kind][0]];
    if (!result) throw new ActionError(t('console.noAnswer'));
    if (kind === 'remove') {
      // The tile goes with the live update: say it on the queue instead.
      this.sectionNote(this.view.sections.get(input.queue), describe(kind, input, result));
    }
    return result;
  }
}

/** What a tile says after an action. */
export function describe(kind, input, result) {
  const queue = input.queue;
  let text;
  switch (kind) {
    case 'pause':
      text = input.reason
        ? t(queue ? 'done.pausedInBecause' : 'done.pausedBecause', { queue, reason: input.reason })
        : t(queue ? 'done.pausedIn' : 'done.paused', { queue });
      break;
    case 'unpause':
      text = t(queue ? 'done.unpausedIn' : 'done.unpaused', { queue });
      break;
    case 'penalty':
      text = t(queue ? 'done.penaltyIn' : 'done.penalty', { penalty: input.penalty, queue });
      break;
    case 'remove':
      text = t('done.removed', { member: input.interface, queue });
      break;
    case 'add':
      text = t('done.added', { member: input.memberName || input.interface, queue });
      break;
    case 'listen': {
      const modes = { LISTEN: t('console.listen'), WHISPER: t('console.whisper'), BARGE: t('console.barge') };
      text = t('done.listen', { mode: modes[input.mode] ?? input.mode });
      break;
    }
    default:
      text = result.action;
  }
  // Asterisk accepted it but its event has not come yet: the tile will follow.
  return result.pending ? t('done.pending', { text }) : text;
}
