// What the dashboard shows, whichever way it was fetched (GraphQL or REST).

export type OperatorState = 'unknown' | 'idle' | 'in_call' | 'busy' | 'invalid' | 'unavailable' | 'ringing' | 'on_hold';

export interface OperatorView {
  memberId: string;
  memberName: string;
  status: OperatorState;
  paused: boolean;
  pausedReason: string | null;
  statusSince: number | null;
  queues: string[];
  /** The queues it is paused in (`paused` is true only when paused in all of them). */
  pausedIn: string[];
}

/** What a supervisor action (pauseOperator, unpauseOperator) answered. */
export interface ActionOutcome {
  /** Asterisk accepted it, but the event that shows the change has not come yet. */
  pending: boolean;
  asteriskMessage: string | null;
  operator: OperatorView | null;
}

export interface QueueView {
  name: string;
  callsWaiting: number;
  longestWaitSeconds: number;
  completed: number;
  abandoned: number;
  serviceLevelPerf: number | null;
  available: number | null;
  total: number | null;
}

export interface DashboardData {
  operators: OperatorView[];
  queues: QueueView[];
}
