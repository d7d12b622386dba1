import { Injectable, inject } from '@angular/core';
import { CombinedGraphQLErrors } from '@apollo/client';
import { Apollo } from 'apollo-angular';
import { type MonoTypeOperatorFunction, type Observable, combineLatest, map, retry, scan, timer } from 'rxjs';

import {
  type DashboardOperatorFragment,
  type DashboardQueueFragment,
  DashboardSnapshotDocument,
  OperatorsLiveDocument,
  type PauseOperatorInput,
  PauseOperatorDocument,
  QueuesLiveDocument,
  type SetOperatorStatusInput,
  SetOperatorStatusDocument,
  type UnpauseOperatorInput,
  UnpauseOperatorDocument,
} from './generated/graphql';
import type { ActionOutcome, DashboardData, OperatorState, OperatorView, QueueView } from './models';

/** One message of operatorUpdated / queueUpdated, reduced to what the merge needs. */
interface Update<T> {
  kind: 'INITIAL' | 'RESYNC' | 'CHANGES';
  fromVersion: number;
  toVersion: number;
  items: T[];
  removed: string[];
}

interface Live<T> {
  version: number;
  byId: Map<string, T>;
}

class MissedUpdate extends Error {}

/**
 * Keeps a map of entities from a subscription's messages: INITIAL/RESYNC replace it,
 * CHANGES apply to it. Each message says which version it follows; if that is not the
 * version we hold, a message was lost and the stream fails, so `retry` subscribes again
 * and the server sends the whole state first.
 */
function follow<T>(idOf: (item: T) => string) {
  return scan<Update<T>, Live<T>>(
    (live, update) => {
      if (update.kind !== 'CHANGES') {
        return { version: update.toVersion, byId: new Map(update.items.map((item) => [idOf(item), item])) };
      }
      if (update.fromVersion !== live.version) throw new MissedUpdate(`expected ${live.version}, got ${update.fromVersion}`);
      const byId = new Map(live.byId);
      for (const item of update.items) byId.set(idOf(item), item);
      for (const id of update.removed) byId.delete(id);
      return { version: update.toVersion, byId };
    },
    { version: -1, byId: new Map<string, T>() },
  );
}

/** Resubscribe after an error (e.g. SUBSCRIBER_TOO_SLOW, a missed update), backing off to 15 s. */
function resubscribe<T>(): MonoTypeOperatorFunction<T> {
  return retry<T>({
    delay: (_error: unknown, attempt: number) => timer(Math.min(15_000, 500 * 2 ** attempt)),
    resetOnSuccess: true,
  });
}

export function toOperatorView(op: DashboardOperatorFragment): OperatorView {
  return {
    memberId: op.memberId,
    memberName: op.memberName,
    status: op.status.toLowerCase() as OperatorState,
    paused: op.paused,
    pausedReason: op.pausedReason,
    statusSince: op.statusSince,
    queues: op.queues.map((membership) => membership.queueName),
    pausedIn: op.queues.filter((membership) => membership.paused).map((membership) => membership.queueName),
  };
}

/**
 * A refused action's message: Asterisk's own words (`extensions.asteriskMessage`) when
 * it answered, with the error's code (BAD_USER_INPUT, FORBIDDEN, CONFLICT, …).
 */
export function actionError(error: unknown): string {
  if (CombinedGraphQLErrors.is(error)) {
    const first = error.errors[0];
    const code = first?.extensions?.['code'];
    const words = first?.extensions?.['asteriskMessage'] ?? first?.message ?? error.message;
    return code ? `${String(words)} (${String(code)})` : String(words);
  }
  return error instanceof Error ? error.message : String(error);
}

export function toQueueView(queue: DashboardQueueFragment): QueueView {
  return {
    name: queue.name,
    callsWaiting: queue.callsWaiting,
    longestWaitSeconds: queue.longestWaitSeconds,
    completed: queue.completed,
    abandoned: queue.abandoned,
    serviceLevelPerf: queue.serviceLevelPerf,
    available: queue.members.available,
    total: queue.members.total,
  };
}

/** Queue Status over GraphQL: a snapshot over HTTP, live operators and queues over WebSocket, the status mutation. */
@Injectable({ providedIn: 'root' })
export class QueueStatusService {
  private readonly apollo = inject(Apollo);

  /** Everything once, over HTTP. */
  snapshot(): Observable<DashboardData> {
    return this.apollo
      .query({ query: DashboardSnapshotDocument, fetchPolicy: 'network-only' })
      .pipe(
        map((result) => {
          const snapshot = result.data?.snapshot;
          return {
            operators: (snapshot?.operators ?? []).map(toOperatorView),
            queues: (snapshot?.queues ?? []).map(toQueueView),
          };
        }),
      );
  }

  /** Operators (optionally of one queue), live: the current state first, then every change. */
  operators(queue?: string): Observable<OperatorView[]> {
    return this.apollo.subscribe({ query: OperatorsLiveDocument, variables: { queue: queue ?? null } }).pipe(
      map((result): Update<DashboardOperatorFragment> => {
        const update = result.data?.operatorUpdated;
        if (!update) throw new Error(result.error?.message ?? 'no data');
        return { ...update, items: update.operators, removed: update.removed.map((r) => r.id) };
      }),
      follow((op) => op.memberId),
      map((live) => [...live.byId.values()].map(toOperatorView).sort((a, b) => a.memberName.localeCompare(b.memberName))),
      resubscribe(),
    );
  }

  /** Queues with their member counts, live. */
  queues(): Observable<QueueView[]> {
    return this.apollo.subscribe({ query: QueuesLiveDocument }).pipe(
      map((result): Update<DashboardQueueFragment> => {
        const update = result.data?.queueUpdated;
        if (!update) throw new Error(result.error?.message ?? 'no data');
        return { ...update, items: update.queues, removed: update.removed.map((r) => r.id) };
      }),
      follow((queue) => queue.name),
      map((live) => [...live.byId.values()].map(toQueueView).sort((a, b) => a.name.localeCompare(b.name))),
      resubscribe(),
    );
  }

  /** Operators and queues together, live. */
  dashboard(): Observable<DashboardData> {
    return combineLatest({ operators: this.operators(), queues: this.queues() });
  }

  /**
   * Pause an operator on Asterisk (QueuePause) in `input.queue`, or in all of its queues,
   * with a reason. Needs a supervisor token when tokens are configured; a refusal comes as
   * an error whose `extensions` carry the code and Asterisk's message (see `actionError`).
   */
  pauseOperator(input: PauseOperatorInput): Observable<ActionOutcome> {
    return this.apollo.mutate({ mutation: PauseOperatorDocument, variables: { input } }).pipe(
      map((result) => {
        const outcome = result.data?.pauseOperator;
        if (!outcome) throw result.error ?? new Error('no data');
        return {
          pending: outcome.pending,
          asteriskMessage: outcome.asteriskMessage,
          operator: outcome.operator ? toOperatorView(outcome.operator) : null,
        };
      }),
    );
  }

  /** Unpause an operator on Asterisk (QueuePause, Paused: false). */
  unpauseOperator(input: UnpauseOperatorInput): Observable<ActionOutcome> {
    return this.apollo.mutate({ mutation: UnpauseOperatorDocument, variables: { input } }).pipe(
      map((result) => {
        const outcome = result.data?.unpauseOperator;
        if (!outcome) throw result.error ?? new Error('no data');
        return {
          pending: outcome.pending,
          asteriskMessage: outcome.asteriskMessage,
          operator: outcome.operator ? toOperatorView(outcome.operator) : null,
        };
      }),
    );
  }

  /** The runbook's "imitate an AMI event", typed (needs a supervisor token when tokens are configured). */
  setOperatorStatus(input: SetOperatorStatusInput): Observable<OperatorView> {
    return this.apollo.mutate({ mutation: SetOperatorStatusDocument, variables: { input } }).pipe(
      map((result) => {
        const operator = result.data?.setOperatorStatus;
        if (!operator) throw new Error(result.error?.message ?? 'no data');
        return toOperatorView(operator);
      }),
    );
  }
}
