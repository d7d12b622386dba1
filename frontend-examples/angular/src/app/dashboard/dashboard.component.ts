import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { toObservable, toSignal } from '@angular/core/rxjs-interop';
import { type Observable, catchError, map, of, startWith, switchMap } from 'rxjs';

import type { OperatorStatus } from '../generated/graphql';
import type { DashboardData, OperatorView, QueueView } from '../models';
import { QueueStatusService } from '../queue-status.service';
import { RestPollingService } from '../rest-polling.service';

type Source = 'graphql' | 'rest';

interface Loaded {
  state: 'loading' | 'ready' | 'error';
  data: DashboardData;
  error?: string;
}

const EMPTY: DashboardData = { operators: [], queues: [] };
const LOADING: Loaded = { state: 'loading', data: EMPTY };

/** Operators grouped by queue, and each queue's figures, live over GraphQL or polled over REST. */
@Component({
  selector: 'qs-dashboard',
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './dashboard.component.html',
  styleUrl: './dashboard.component.css',
})
export class DashboardComponent {
  private readonly live = inject(QueueStatusService);
  private readonly polling = inject(RestPollingService);

  readonly source = signal<Source>('graphql');

  private readonly loaded = toSignal(
    toObservable(this.source).pipe(switchMap((source) => this.load(source === 'graphql' ? this.live.dashboard() : this.polling.dashboard$))),
    { initialValue: LOADING },
  );

  readonly state = computed(() => this.loaded().state);
  readonly error = computed(() => this.loaded().error);
  readonly queues = computed(() => this.loaded().data.queues);
  /** queue name → its members */
  readonly membersByQueue = computed(() => {
    const groups = new Map<string, OperatorView[]>();
    for (const op of this.loaded().data.operators) {
      for (const queue of op.queues) groups.set(queue, [...(groups.get(queue) ?? []), op]);
    }
    return groups;
  });

  members(queue: QueueView): OperatorView[] {
    return this.membersByQueue().get(queue.name) ?? [];
  }

  use(source: Source): void {
    this.source.set(source);
  }

  /** A supervisor action: pause or resume an operator (through the same path as an AMI event). */
  togglePause(op: OperatorView): void {
    this.live
      .setOperatorStatus({
        memberId: op.memberId,
        status: op.status.toUpperCase() as OperatorStatus,
        paused: !op.paused,
        pausedReason: op.paused ? null : 'supervisor',
      })
      .subscribe({ error: (error: unknown) => console.error('setOperatorStatus failed', error) });
  }

  private load(data$: Observable<DashboardData>): Observable<Loaded> {
    return data$.pipe(
      map((data): Loaded => ({ state: 'ready', data })),
      startWith(LOADING),
      catchError((error: unknown) => of<Loaded>({ state: 'error', data: EMPTY, error: String(error) })),
    );
  }
}
