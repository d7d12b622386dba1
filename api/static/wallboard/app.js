// The wallboard: read the state over HTTP, follow it over a graphql-transport-ws
// subscription, re-read whenever continuity is in doubt.
//
// Order on every (re)connection: subscribe to `changes` first (without the
// initial state), then read the snapshot over HTTP while buffering what the
// subscription delivers, then apply the buffered changes newer than the
// snapshot. Versions are contiguous, so a missing one is noticed and answered
// with another read. The server going away shows a banner; the socket
// reconnects by itself and the cycle starts again, without reloading the page.

import { readAddress, withSettings } from './address.js';
import { AlertMarks } from './alerts.js';
import { CellPopover } from './cell-popover.js';
import { SupervisorConsole } from './console.js';
import { GraphQLSocket } from './graphql-ws.js';
import { loadLanguage, pickLanguage, t, translatePage } from './i18n.js';
import { BoardLayout } from './layout.js';
import { choosePbx, withPbx } from './pbx.js';
import { LiveState } from './state.js';
import { TodayStats } from './stats.js';
import { WallboardView } from './view.js';

const TOKEN_KEY = 'queue-status.token';

// What this screen shows (a bookmark): queues, view, order, density, pages, language.
const address = readAddress(window.location.href);
const language = pickLanguage(address.lang);
try {
  await loadLanguage(language);
} catch {
  // The catalogue could not be read: English, if that one can.
  if (language !== 'en') await loadLanguage('en').catch(() => {});
}
translatePage(document);
document.body.classList.toggle('kiosk', address.kiosk);
document.body.dataset.view = address.view;

const OPERATOR = `memberId memberName status paused pausedReason statusSince updatedAt currentChannel
  queues { queueName paused pausedReason lastPause wrapupUntil penalty }`;
const QUEUE = `name completed abandoned serviceLevel serviceLevelPerf
  callers { uniqueId position callerIdNum callerIdName joinedAt }`;
const CHANNEL = `name uniqueId linkedId state callerIdNum callerIdName connectedLineNum
  queueName memberId createdAt answeredAt`;
const SNAPSHOT = `version generatedAt operators { ${OPERATOR} } queues { ${QUEUE} } channels { ${CHANNEL} }`;

const SNAPSHOT_QUERY = `query WallboardSnapshot($pbx: String) { snapshot(pbx: $pbx) { ${SNAPSHOT} } }`;
const CHANGES_SUBSCRIPTION = `subscription WallboardChanges($pbx: String) {
  changes(initial: false, pbx: $pbx) {
    kind fromVersion toVersion reason
    snapshot { ${SNAPSHOT} }
    changes { version kind op id operator { ${OPERATOR} } queue { ${QUEUE} } channel { ${CHANNEL} } }
  }
}`;

class AuthError extends Error {}

// --- settings ----------------------------------------------------------------

/** A ?token= in the address is stored, then removed so it is not left on screen or in history. */
function takeTokenFromUrl() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (token === null) return;
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  url.searchParams.delete('token');
  window.history.replaceState(null, '', url);
}

function token() {
  return localStorage.getItem(TOKEN_KEY) || '';
}

function authorization() {
  const value = token();
  return value ? `Bearer ${value}` : null;
}

// --- HTTP --------------------------------------------------------------------

const httpEndpoint = new URL('graphql', document.baseURI);
const wsEndpoint = new URL(httpEndpoint);
wsEndpoint.protocol = httpEndpoint.protocol === 'https:' ? 'wss:' : 'ws:';

/** POST one operation with the token (never in the URL) and the board's PBX; the response
 * and its JSON body (null if none). */
async function post(query, variables) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const auth = authorization();
  if (auth) headers.Authorization = auth;
  const response = await fetch(httpEndpoint, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables: withPbx(variables) }),
    cache: 'no-store',
  });
  const body = await response.json().catch(() => null);
  return { response, body };
}

/** A read: its data, or AuthError / Error. */
async function graphql(query) {
  const { response, body } = await post(query);
  if (response.status === 401 || response.status === 403) throw new AuthError(`HTTP ${response.status}`);
  if (!body) throw new Error(`HTTP ${response.status}`);
  const errors = body.errors ?? [];
  const denied = errors.find((e) => ['UNAUTHENTICATED', 'FORBIDDEN'].includes(e.extensions?.code));
  if (denied) throw new AuthError(denied.message);
  if (errors.length || !body.data) throw new Error(errors[0]?.message ?? `HTTP ${response.status}`);
  return body.data;
}

// --- the live cycle ----------------------------------------------------------

const state = new LiveState();
const view = new WallboardView(document, state, address);
view.layout = new BoardLayout({ doc: document, view, address });
new CellPopover({ doc: document, view }); // wires itself to the view's cells
const alertMarks = new AlertMarks(view);
// The supervisor console wants the whole answer: its errors carry codes and Asterisk's words.
const supervisor = new SupervisorConsole({
  doc: document,
  state,
  view,
  request: async (query, variables) => {
    const { response, body } = await post(query, variables);
    if (body) return body;
    const code = response.status === 401 ? 'UNAUTHENTICATED' : response.status === 403 ? 'FORBIDDEN' : null;
    return { errors: [{ message: `HTTP ${response.status}`, extensions: { code } }] };
  },
});

// Today's completed / abandoned / service level and chart, from the call records.
const todayStats = new TodayStats({ doc: document, view, request: async (query, variables) => (await post(query, variables)).body });
view.onQueueRendered = (section, name) => {
  todayStats.decorate(section, name);
  todayStats.poke();
};

let reading = false; // a snapshot read is in flight: buffer what the subscription delivers
let readAgain = false;
let buffered = [];
let stopChanges = null;
let retryRead = 0;

function onBatch(batch) {
  if (reading || !state.loaded) {
    buffered.push(batch);
    return;
  }
  if (state.applyBatch(batch) === 'gap') void resync();
}

async function resync() {
  if (reading) {
    readAgain = true; // the running read may predate the subscription: read once more after it
    return;
  }
  reading = true;
  clearTimeout(retryRead);
  try {
    do {
      readAgain = false;
      const { snapshot } = await graphql(SNAPSHOT_QUERY);
      state.replace(snapshot);
      let gap = false;
      for (const batch of buffered) gap = state.applyBatch(batch) === 'gap' || gap;
      buffered = [];
      readAgain ||= gap;
    } while (readAgain);
    if (socket.isOpen) view.showLink({ state: 'live' });
  } catch (error) {
    if (error instanceof AuthError) {
      showAuthProblem(error.message);
    } else {
      // Server reachable over WebSocket but the read failed (e.g. Redis down: 503): try again.
      retryRead = setTimeout(() => void resync(), 3_000);
    }
  } finally {
    reading = false;
  }
}

function subscribeToChanges() {
  stopChanges?.();
  stopChanges = socket.subscribe(
    { query: CHANGES_SUBSCRIPTION, operationName: 'WallboardChanges', variables: withPbx() },
    {
      next: (result) => {
        if (result.errors?.length) {
          restartChanges(result.errors);
          return;
        }
        onBatch(result.data.changes);
      },
      // e.g. SUBSCRIBER_TOO_SLOW after the tab slept: subscribe again and re-read.
      error: (errors) => restartChanges(errors),
      complete: () => restartChanges([]),
    },
  );
}

function restartChanges(errors) {
  stopChanges = null;
  if (!socket.isOpen) return; // the socket's reconnect handles it
  const denied = errors.find((e) => ['UNAUTHENTICATED', 'FORBIDDEN'].includes(e.extensions?.code));
  if (denied) {
    showAuthProblem(denied.message);
    return;
  }
  setTimeout(() => {
    if (!socket.isOpen) return;
    subscribeToChanges();
    void resync();
  }, 250);
}

function showAuthProblem(message) {
  view.showLink({
    state: 'auth',
    title: token() ? t('auth.refused') : t('auth.required'),
    detail: t('auth.detail', { message }),
  });
}

const socket = new GraphQLSocket({
  url: wsEndpoint.href,
  connectionParams: () => {
    const auth = authorization();
    return auth ? { authorization: auth } : {};
  },
  onStatus: (status) => {
    if (status.state === 'open') {
      subscribeToChanges();
      alertMarks.subscribe(socket);
      void resync();
      void supervisor.refreshAccess(); // the server may have restarted with other tokens
    } else if (status.state === 'connecting') {
      if (document.body.dataset.link !== 'offline' && document.body.dataset.link !== 'auth') {
        view.showLink({ state: 'connecting' });
      }
    } else if (status.auth) {
      showAuthProblem(status.reason || t('auth.notAuthorised'));
    } else {
      stopChanges = null;
      const seconds = Math.max(1, Math.round((status.retryInMs ?? 0) / 1000));
      view.showLink({
        state: 'offline',
        title: t('banner.serverLost'),
        detail: t('banner.reconnecting', { seconds }),
      });
    }
  },
});

// --- the frame loop ----------------------------------------------------------

function frame() {
  view.frame();
  alertMarks.frame();
  requestAnimationFrame(frame);
}

// --- settings dialog ---------------------------------------------------------

function setUpSettings() {
  const dialog = document.getElementById('settings');
  const form = document.getElementById('settings-form');
  const tokenInput = document.getElementById('token-input');
  const inputs = {
    density: document.getElementById('density-input'),
    sort: document.getElementById('sort-input'),
    view: document.getElementById('view-input'),
    lang: document.getElementById('lang-input'),
  };
  const open = () => {
    tokenInput.value = token();
    inputs.density.value = address.density;
    inputs.sort.value = address.sort;
    inputs.view.value = address.view;
    inputs.lang.value = address.lang ?? '';
    dialog.showModal();
  };
  document.getElementById('open-settings').addEventListener('click', open);
  document.getElementById('settings-cancel').addEventListener('click', () => dialog.close());
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const changedToken = tokenInput.value.trim() !== token();
    if (tokenInput.value.trim()) localStorage.setItem(TOKEN_KEY, tokenInput.value.trim());
    else localStorage.removeItem(TOKEN_KEY);
    dialog.close();
    // The board's own settings live in the address, so that a bookmark keeps them.
    const next = withSettings(window.location.href, Object.fromEntries(
      Object.entries(inputs).map(([name, input]) => [name, input.value]),
    ));
    if (next !== window.location.href) {
      window.location.assign(next);
      return;
    }
    if (changedToken) {
      // New credentials: a new connection (connection_init carries the token).
      socket.stop();
      socket.start();
      void resync();
      void supervisor.refreshAccess();
    }
  });
  document.getElementById('banner-retry').addEventListener('click', () => {
    if (document.body.dataset.link === 'auth') open();
    else socket.retryNow();
  });
}

// --- start -------------------------------------------------------------------

takeTokenFromUrl();
setUpSettings();
window.addEventListener('resize', () => view.relayout());
// Back from sleep or a network change: do not wait for the backoff timer.
window.addEventListener('online', () => socket.retryNow());
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') socket.retryNow();
});
requestAnimationFrame(frame);
// With several PBXes, which one first (every later request names it).
void choosePbx(document, async (query) => (await post(query)).body).finally(() => {
  void resync(); // first paint over HTTP, before the WebSocket is up
  void supervisor.refreshAccess();
  todayStats.start();
  socket.start();
});
