// The structured logger the scheduler and its collaborators write to (pino's shape; tests pass a stub).

export interface SchedulerLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
