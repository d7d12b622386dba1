import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { toObservable, toSignal } from '@angular/core/rxjs-interop';
import { type Observable, catchError, map, of, startWith, switchMap } from 'rxjs';

import type { ActionOutcome, DashboardData, OperatorView, QueueView } from '../models';
import { QueueStatusService, actionError } from '../queue-status.service';
import { RestPollingService } from '../rest-polling.service';

type Source = 'graphql' | 'rest';

interface Loaded {
  state: 'loading' | 'ready' | 'error';
  data: DashboardData;
  error?: string;
}

/** The answer to the last action on one operator in one queue, shown next to it. */
interface ActionNote {
  text: string;
  error: boolean;
}

const EMPTY: DashboardData = { operators: [], queues: [] };
/** Asterisk's limit (and the server's check): at most 80 printable characters. */
export const MAX_REASON = 80;
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
  readonly maxReason = MAX_REASON;
  /** `${queue}\n${memberId}` → what its last action answered */
  readonly notes = signal<ReadonlyMap<string, ActionNote>>(new Map());

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

  /** Whether the operator is paused in this queue. */
  pausedIn(op: OperatorView, queue: QueueView): boolean {
    return op.pausedIn.includes(queue.name);
  }

  note(op: OperatorView, queue: QueueView): ActionNote | undefined {
    return this.notes().get(`${queue.name}\n${op.memberId}`);
  }

  /**
   * A supervisor action on Asterisk: pause the operator in this queue with a reason
   * (pauseOperator), or unpause it. The tile itself changes with the live update; the
   * answer (or Asterisk's refusal) is shown next to the operator.
   */
  pause(op: OperatorView, queue: QueueView, reason: string): void {
    const text = reason.trim();
    this.run(op, queue, this.live.pauseOperator({ memberId: op.memberId, queue: queue.name, reason: text || null }), text ? `Paused: ${text}` : 'Paused');
  }

  unpause(op: OperatorView, queue: QueueView): void {
    this.run(op, queue, this.live.unpauseOperator({ memberId: op.memberId, queue: queue.name }), 'Unpaused');
  }

  private run(op: OperatorView, queue: QueueView, action$: Observable<ActionOutcome>, done: string): void {
    const key = `${queue.name}\n${op.memberId}`;
    const show = (note: ActionNote) => this.notes.update((notes) => new Map(notes).set(key, note));
    show({ text: 'sending…', error: false });
    action$.subscribe({
      next: (outcome) => show({ text: outcome.pending ? `${done} — pending…` : done, error: false }),
      error: (error: unknown) => show({ text: actionError(error), error: true }),
    });
  }

  private load(data$: Observable<DashboardData>): Observable<Loaded> {
    return data$.pipe(
      map((data): Loaded => ({ state: 'ready', data })),
      startWith(LOADING),
      catchError((error: unknown) => of<Loaded>({ state: 'error', data: EMPTY, error: String(error) })),
    );
  }
}
