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
