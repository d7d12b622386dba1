// The wallboard's copy of the live state, kept at one store version.
//
// The server numbers every change of any operator, queue or channel with one
// global version. A snapshot replaces everything; a batch applies when its
// `fromVersion` is not beyond the version we hold (a token scoped to some
// queues gets no changes of the others, so its versions have holes, but each
// batch's `fromVersion` is the previous batch's `toVersion`). Anything else
// means a change was missed: `apply` says so and the owner re-reads the snapshot. What changed is
// collected in dirty sets, so the view touches only those parts of the page: a queue's own
// record (`queues`: its header and callers) apart from its member counts (`counts`), which
// every change of one of its operators moves.

export class LiveState {
  constructor() {
    /** @type {Map<string, any>} */ this.operators = new Map();
    /** @type {Map<string, any>} */ this.queues = new Map();
    /** @type {Map<string, any>} */ this.channels = new Map();
    this.version = -1; // no state yet
    this.clockOffsetMs = 0; // server clock minus ours: timers must not depend on the TV's clock
    this.dirty = { all: true, operators: new Set(), queues: new Set(), counts: new Set(), channels: false };
  }

  get loaded() {
    return this.version >= 0;
  }

  /** Server time now, in ms since the epoch. */
  now() {
    return Date.now() + this.clockOffsetMs;
  }

  /** Replace everything with a snapshot (`{operators, queues, channels, version, generatedAt}`). */
  replace(snapshot) {
    this.operators = byId(snapshot.operators, 'memberId');
    this.queues = byId(snapshot.queues, 'name');
    this.channels = byId(snapshot.channels, 'name');
    this.version = Number(snapshot.version);
    if (snapshot.generatedAt) this.clockOffsetMs = Number(snapshot.generatedAt) - Date.now();
    this.dirty.all = true;
  }

  /**
   * Apply one `changes` batch. Returns 'ok', or 'gap' when a version is missing
   * (the caller re-reads the state).
   */
  applyBatch(batch) {
    if (batch.kind !== 'CHANGES') {
      // INITIAL or RESYNC: the server re-sent the whole state (e.g. after its
      // Redis pub/sub reconnected).
      if (batch.snapshot) this.replace(batch.snapshot);
      return 'ok';
    }
    if (batch.fromVersion != null && Number(batch.fromVersion) > this.version) return 'gap';
    for (const change of batch.changes) {
      const version = Number(change.version);
      if (version <= this.version) continue; // already in the snapshot we hold
      if (batch.fromVersion == null && version !== this.version + 1) return 'gap';
      this.applyChange(change);
      this.version = version;
    }
    if (batch.toVersion != null) this.version = Math.max(this.version, Number(batch.toVersion));
    return 'ok';
  }

  applyChange(change) {
    const deleted = change.op === 'DELETE';
    switch (change.kind) {
      case 'OPERATOR': {
        const before = this.operators.get(change.id);
        if (deleted) this.operators.delete(change.id);
        else this.operators.set(change.id, change.operator);
        this.dirty.operators.add(change.id);
        // Queue member counts are derived from operators: mark the queues it
        // was and is in.
        for (const m of before?.queues ?? []) this.dirty.counts.add(m.queueName);
        for (const m of change.operator?.queues ?? []) this.dirty.counts.add(m.queueName);
        break;
      }
      case 'QUEUE':
        if (deleted) this.queues.delete(change.id);
        else this.queues.set(change.id, change.queue);
        this.dirty.queues.add(change.id);
        this.dirty.counts.add(change.id);
        break;
      case 'CHANNEL':
        if (deleted) this.channels.delete(change.id);
        else this.channels.set(change.id, change.channel);
        this.dirty.channels = true;
        break;
      default:
        break;
    }
  }

  /** Whether anything changed since the last takeDirty. */
  hasDirty() {
    const d = this.dirty;
    return d.all || d.channels || d.operators.size > 0 || d.queues.size > 0 || d.counts.size > 0;
  }

  /** The dirty sets so far, cleared. */
  takeDirty() {
    const dirty = this.dirty;
    this.dirty = { all: false, operators: new Set(), queues: new Set(), counts: new Set(), channels: false };
    return dirty;
  }
}

function byId(list, key) {
  const map = new Map();
  for (const item of list ?? []) map.set(item[key], item);
  return map;
}

/**
 * What a tile shows for an operator in one queue: a state key (CSS class and
 * label), since when, and a detail line. Device state first (a call is a call
 * even when paused), then the pause in this queue, then wrap-up.
 */
export function tileState(operator, membership, now) {
  const status = operator.status;
  const paused = Boolean(membership?.paused);
  const reason = membership?.pausedReason || operator.pausedReason || '';
  const since = operator.statusSince ?? operator.updatedAt ?? null;
  switch (status) {
    case 'UNAVAILABLE':
    case 'INVALID':
      return { key: 'unavailable', since, paused, reason };
    case 'RINGING':
      return { key: 'ringing', since, paused, reason };
    case 'IN_CALL':
    case 'BUSY':
      return { key: 'in_call', since, paused, reason };
    case 'ON_HOLD':
      return { key: 'on_hold', since, paused, reason };
    default:
      break;
  }
  if (paused) {
    // lastPause is when this queue's pause started; older than statusSince
    // means the device changed state during the pause, which still runs.
    return { key: 'paused', since: membership.lastPause ?? since, paused, reason };
  }
  const wrapupUntil = membership?.wrapupUntil;
  if (status === 'IDLE' && wrapupUntil && wrapupUntil > now) {
    return { key: 'wrapup', since, until: wrapupUntil, paused, reason };
  }
  if (status === 'IDLE') return { key: 'idle', since, paused, reason };
  return { key: 'unknown', since, paused, reason };
}

/** Member counts of every queue, as the server derives them (api/service.py member_counts):
 * queue name → counts, in one pass over the operators (not one per queue). */
export function memberCountsByQueue(operators) {
  const byQueue = new Map();
  for (const op of operators) {
    for (const membership of op.queues) {
      let counts = byQueue.get(membership.queueName);
      if (!counts) {
        counts = emptyCounts();
        byQueue.set(membership.queueName, counts);
      }
      counts.total += 1;
      if (membership.paused) counts.paused += 1;
      else if (op.status === 'IDLE') counts.available += 1;
      if (op.status === 'IN_CALL' || op.status === 'BUSY' || op.status === 'ON_HOLD') counts.inCall += 1;
      else if (op.status === 'RINGING') counts.ringing += 1;
      else if (op.status === 'UNAVAILABLE' || op.status === 'INVALID') counts.unavailable += 1;
    }
  }
  return byQueue;
}

/** Member counts of one queue (none: every figure 0). */
export function memberCounts(queueName, operators) {
  return memberCountsByQueue(operators).get(queueName) ?? emptyCounts();
}

export function emptyCounts() {
  return { total: 0, available: 0, inCall: 0, ringing: 0, paused: 0, unavailable: 0 };
}
