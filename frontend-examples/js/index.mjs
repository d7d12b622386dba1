#!/usr/bin/env node
// Queue Status from plain Node.js: read the operators with a GraphQL query over
// fetch, then follow every change over a graphql-ws subscription and print it.
//
//   node index.mjs [--url http://127.0.0.1:3000] [--token T] [--count N] [--timeout S] [--wait S]
//
// --count N exits (0) after N changes; --timeout S exits (1) when they have not
// all arrived within S seconds; --wait S retries the first query while the
// server is still starting. All three are for scripts and CI.

import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';

const { values: options } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.QUEUE_STATUS_URL ?? 'http://127.0.0.1:3000' },
    token: { type: 'string', default: process.env.QUEUE_STATUS_TOKEN ?? '' },
    count: { type: 'string' },
    timeout: { type: 'string' },
    wait: { type: 'string', default: '0' },
  },
});

const base = options.url.replace(/\/+$/, '');
const httpUrl = `${base}/graphql`;
const wsUrl = httpUrl.replace(/^http/, 'ws'); // http→ws, https→wss
const wanted = options.count ? Number(options.count) : Infinity;
const authorization = options.token ? `Bearer ${options.token}` : null;

const OPERATORS = `query Operators {
  operators { memberId memberName status paused pausedReason queueName }
  snapshot { version }
}`;

const CHANGES = `subscription Changes {
  changes(initial: false) {
    kind fromVersion toVersion reason
    changes {
      version kind op id
      operator { memberName status paused pausedReason }
      queue { callsWaiting longestWaitSeconds completed abandoned }
      channel { state callerIdNum queueName memberId }
    }
  }
}`;

/** One GraphQL operation over HTTP with plain fetch. */
async function query(text) {
  const response = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(authorization ? { Authorization: authorization } : {}) },
    body: JSON.stringify({ query: text }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
  return body.data;
}

function describe(change) {
  const what = `${change.kind.toLowerCase()} ${change.id}`;
  if (change.op === 'DELETE') return `${what} removed`;
  if (change.operator) {
    const o = change.operator;
    const pause = o.paused ? ` (paused${o.pausedReason ? `: ${o.pausedReason}` : ''})` : '';
    return `${what} ${o.memberName}: ${o.status.toLowerCase()}${pause}`;
  }
  if (change.queue) {
    const q = change.queue;
    return `${what}: ${q.callsWaiting} waiting (longest ${q.longestWaitSeconds} s), ${q.completed} completed, ${q.abandoned} abandoned`;
  }
  if (change.channel) {
    const c = change.channel;
    return `${what}: ${c.state?.toLowerCase() ?? 'new'}${c.callerIdNum ? ` from ${c.callerIdNum}` : ''}${c.queueName ? ` in ${c.queueName}` : ''}${c.memberId ? ` with ${c.memberId}` : ''}`;
  }
  return what;
}

const time = () => new Date().toISOString().slice(11, 23);

/** The first query, retried while the server is not up yet (connection refused). */
async function firstQuery(text, waitSeconds) {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    try {
      return await query(text);
    } catch (error) {
      if (!(error instanceof TypeError) || Date.now() >= deadline) throw error; // TypeError: fetch failed
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

// Node 22 has a global WebSocket; Node 20 needs the `ws` package.
const WebSocketImpl = globalThis.WebSocket ?? (await import('ws')).default;

const { operators, snapshot } = await firstQuery(OPERATORS, Number(options.wait)).catch((error) => {
  console.error(`cannot query ${httpUrl}: ${error.cause?.code ?? error.message}`);
  process.exit(1);
});
console.log(`${operators.length} operators at version ${snapshot.version}:`);
for (const op of operators) {
  console.log(`  ${op.memberId.padEnd(14)} ${op.memberName.padEnd(20)} ${op.status.toLowerCase()}${op.paused ? ' (paused)' : ''}  [${op.queueName ?? '-'}]`);
}

let version = snapshot.version;
let seen = 0;
const client = createClient({
  url: wsUrl,
  webSocketImpl: WebSocketImpl,
  connectionParams: () => (authorization ? { authorization } : {}),
  retryAttempts: Infinity,
  shouldRetry: () => true,
  on: {
    connected: () => console.log(`${time()} subscribed to ${wsUrl}`),
    closed: (event) => console.log(`${time()} connection closed (${event?.code ?? '?'}); reconnecting…`),
  },
});

function finish(code) {
  void client.dispose();
  process.exit(code);
}

if (options.timeout) {
  setTimeout(() => {
    console.error(`no ${wanted} changes within ${options.timeout} s (got ${seen})`);
    finish(1);
  }, Number(options.timeout) * 1000).unref();
}

client.subscribe(
  { query: CHANGES },
  {
    next: ({ data, errors }) => {
      if (errors?.length) {
        console.error('subscription error:', errors.map((e) => e.message).join('; '));
        return;
      }
      const batch = data.changes;
      if (batch.kind !== 'CHANGES') {
        console.log(`${time()} state re-sent (${batch.kind}: ${batch.reason ?? 'no reason'}) at version ${batch.toVersion}`);
        version = batch.toVersion;
        return;
      }
      for (const change of batch.changes) {
        if (change.version <= version) continue; // already in what we read
        if (change.version !== version + 1) {
          // Versions are contiguous: a hole is changes made between the query and the
          // subscription's start (or lost while reconnecting). Re-run the query to see them.
          console.log(`${time()} (versions ${version + 1}–${change.version - 1} not seen)`);
        }
        version = change.version;
        console.log(`${time()} v${change.version} ${describe(change)}`);
        seen += 1;
        if (seen >= wanted) finish(0);
      }
    },
    error: (error) => {
      console.error('subscription failed:', error instanceof Error ? error.message : error);
      finish(1);
    },
    complete: () => finish(0),
  },
);
