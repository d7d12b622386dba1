// A small graphql-transport-ws client that keeps one connection alive.
//
// The protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):
// connection_init → connection_ack, then subscribe/next/error/complete per
// operation id, ping/pong either way. This client reconnects by itself with
// capped, jittered backoff and tells its owner about every transition; the
// owner subscribes again after each `open` (a new connection has no
// operations) and decides what to re-read.

const PROTOCOL = 'graphql-transport-ws';
const PING_EVERY_MS = 10_000; // our own pings: the only way to notice a half-open TCP connection
const PONG_WITHIN_MS = 5_000;
const ACK_WITHIN_MS = 8_000;
const BACKOFF_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];

// Close codes after which retrying quickly cannot help.
const AUTH_CLOSE_CODES = new Set([4401, 4403]);
const TRY_AGAIN_LATER = 1013;

/**
 * @typedef {{ next?: (data: any) => void, error?: (errors: any[]) => void, complete?: () => void }} Sink
 * @typedef {{ state: 'connecting'|'open'|'closed', code?: number, reason?: string, retryInMs?: number, auth?: boolean }} Status
 */

export class GraphQLSocket {
  /**
   * @param {{ url: string, connectionParams?: () => object, onStatus?: (s: Status) => void }} options
   */
  constructor({ url, connectionParams = () => ({}), onStatus = () => {} }) {
    this.url = url;
    this.connectionParams = connectionParams;
    this.onStatus = onStatus;
    /** @type {WebSocket|null} */
    this.ws = null;
    /** @type {Map<string, Sink>} */
    this.sinks = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.timers = { retry: 0, ping: 0, pong: 0, ack: 0 };
    this.stopped = true;
    this.acknowledged = false;
  }

  /** True between connection_ack and the loss of the connection. */
  get isOpen() {
    return this.acknowledged;
  }

  /** Connect now (and keep reconnecting until stop()). */
  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timers.retry);
    this.drop(1000, 'stopped', false);
  }

  /** Skip the backoff wait: used when the network or the tab comes back. */
  retryNow() {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  /**
   * Start an operation on the open connection; returns a function that stops it.
   * @param {{ query: string, variables?: object, operationName?: string }} payload
   * @param {Sink} sink
   */
  subscribe(payload, sink) {
    const id = String(this.nextId++);
    this.sinks.set(id, sink);
    this.send({ id, type: 'subscribe', payload });
    return () => {
      if (this.sinks.delete(id)) this.send({ id, type: 'complete' });
    };
  }

  // --- connection lifecycle -------------------------------------------------

  connect() {
    clearTimeout(this.timers.retry);
    this.onStatus({ state: 'connecting' });
    let ws;
    try {
      ws = new WebSocket(this.url, PROTOCOL);
    } catch (error) {
      this.scheduleRetry(0, String(error));
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.send({ type: 'connection_init', payload: this.connectionParams() });
      this.timers.ack = setTimeout(() => this.drop(4408, 'no connection_ack'), ACK_WITHIN_MS);
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => {
      if (this.ws === ws) this.lost(event.code, event.reason);
    };
    // onerror carries no detail; onclose always follows it.
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      this.drop(4400, 'invalid message');
      return;
    }
    this.heardFromServer();
    switch (message.type) {
      case 'connection_ack':
        clearTimeout(this.timers.ack);
        this.attempt = 0;
        this.acknowledged = true;
        this.timers.ping = setInterval(() => this.ping(), PING_EVERY_MS);
        this.onStatus({ state: 'open' });
        break;
      case 'ping':
        this.send({ type: 'pong' });
        break;
      case 'pong':
        break;
      case 'next':
        this.sinks.get(message.id)?.next?.(message.payload);
        break;
      case 'error': {
        const sink = this.sinks.get(message.id);
        this.sinks.delete(message.id);
        sink?.error?.(message.payload);
        break;
      }
      case 'complete': {
        const sink = this.sinks.get(message.id);
        this.sinks.delete(message.id);
        sink?.complete?.();
        break;
      }
      default:
        break;
    }
  }

  ping() {
    this.send({ type: 'ping' });
    clearTimeout(this.timers.pong);
    this.timers.pong = setTimeout(() => this.drop(4499, 'the server stopped answering'), PONG_WITHIN_MS);
  }

  heardFromServer() {
    clearTimeout(this.timers.pong);
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Give up on the current socket without waiting for a close handshake a dead peer never answers. */
  drop(code, reason, retry = true) {
    const ws = this.ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(code >= 4000 || code === 1000 ? code : 1000, reason);
    } catch {
      // already closing
    }
    if (retry) this.lost(code, reason);
    else this.cleanUp();
  }

  cleanUp() {
    clearTimeout(this.timers.ack);
    clearTimeout(this.timers.pong);
    clearInterval(this.timers.ping);
    this.ws = null;
    this.acknowledged = false;
    const sinks = [...this.sinks.values()];
    this.sinks.clear();
    // Operations die with their connection; their owners resubscribe on the next `open`.
    for (const sink of sinks) sink.error?.([{ message: 'connection lost' }]);
  }

  lost(code, reason) {
    this.cleanUp();
    if (this.stopped) return;
    this.scheduleRetry(code, reason);
  }

  scheduleRetry(code, reason) {
    const auth = AUTH_CLOSE_CODES.has(code);
    let delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    if (auth) delay = 30_000; // a wrong token stays wrong: do not hammer the server
    if (code === TRY_AGAIN_LATER) delay = Math.max(delay, 5_000);
    this.attempt += 1;
    // Jitter: a room of wallboards must not reconnect in lockstep after a restart.
    delay = Math.round(delay * (0.75 + Math.random() * 0.5));
    this.onStatus({ state: 'closed', code, reason, retryInMs: delay, auth });
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }
}
