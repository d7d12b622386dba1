import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { type Observable, interval, map, shareReplay, startWith, switchMap } from 'rxjs';

import { environment } from '../environments/environment';
import type { DashboardData, OperatorState, OperatorView, QueueView } from './models';

// The documented REST shapes (GET /api/queue-status/snapshot).

interface RestMembership {
  queueName: string;
  paused?: boolean;
  pausedReason?: string;
}

export interface RestOperator {
  memberId: string;
  memberName: string;
  queueName: string | null;
  paused: boolean;
  pausedReason?: string;
  status: OperatorState;
  statusSince?: number;
  updatedAt: number;
  /** Per-queue membership, keyed by queue name. */
  queues?: Record<string, RestMembership>;
}

export interface RestQueue {
  name: string;
  callsWaiting: number;
  longestWaitSeconds: number;
  completed?: number;
  abandoned?: number;
  serviceLevelPerf?: number | null;
  members?: { total: number; available: number };
}

export interface RestSnapshot {
  success: boolean;
  data: { operators: RestOperator[]; queues: RestQueue[]; version: number; generatedAt: number };
}

export const POLL_EVERY_MS = 5_000;

/**
 * The runbook's Angular service, kept for callers that cannot use WebSockets:
 * GET /api/queue-status/snapshot every 5 seconds, mapping data.operators and
 * data.queues. switchMap drops a response that is overtaken by the next poll.
 * (The GraphQL subscriptions in QueueStatusService replace this polling.)
 */
@Injectable({ providedIn: 'root' })
export class RestPollingService {
  private readonly http = inject(HttpClient);
  private readonly url = `${environment.serverUrl}/api/queue-status/snapshot`;

  readonly snapshot$: Observable<RestSnapshot['data']> = interval(POLL_EVERY_MS).pipe(
    startWith(0),
    switchMap(() => this.http.get<RestSnapshot>(this.url)),
    map((snapshot) => snapshot.data),
    shareReplay({ bufferSize: 1, refCount: true }),
  );

  readonly operators$: Observable<OperatorView[]> = this.snapshot$.pipe(map((data) => data.operators.map(toOperatorView)));

  readonly queues$: Observable<QueueView[]> = this.snapshot$.pipe(map((data) => data.queues.map(toQueueView)));

  readonly dashboard$: Observable<DashboardData> = this.snapshot$.pipe(
    map((data) => ({ operators: data.operators.map(toOperatorView), queues: data.queues.map(toQueueView) })),
  );
}

function toOperatorView(op: RestOperator): OperatorView {
  const queues = Object.keys(op.queues ?? {});
  return {
    memberId: op.memberId,
    memberName: op.memberName,
    status: op.status,
    paused: op.paused,
    pausedReason: op.pausedReason || null,
    statusSince: op.statusSince ?? null,
    queues: queues.length ? queues.sort() : op.queueName ? [op.queueName] : [],
    pausedIn: queues.filter((queue) => op.queues?.[queue]?.paused).sort(),
  };
}

function toQueueView(queue: RestQueue): QueueView {
  return {
    name: queue.name,
    callsWaiting: queue.callsWaiting,
    longestWaitSeconds: queue.longestWaitSeconds,
    completed: queue.completed ?? 0,
    abandoned: queue.abandoned ?? 0,
    serviceLevelPerf: queue.serviceLevelPerf ?? null,
    available: queue.members?.available ?? null,
    total: queue.members?.total ?? null,
  };
}
