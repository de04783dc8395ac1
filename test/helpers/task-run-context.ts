// A TaskRunContext for tests of task handlers (HTTP, module): it records every progress report
// with its message, and names a task, attempt 1 of 5 unless overridden.
import type { TaskRunContext } from '../../functions/worker/handlers';

export type RecordingContext = TaskRunContext & { progress: [number, string | undefined][] };

export function recordingContext(overrides: Partial<TaskRunContext> = {}): RecordingContext {
  const progress: [number, string | undefined][] = [];
  return {
    progress,
    signal: new AbortController().signal,
    attempt: 1,
    reportProgress: async (percent, message) => {
      progress.push([percent, message]);
    },
    task: { id: 'task-1', lastAttempt: 5, deadlineMs: 1_800_000_000_000 },
    ...overrides,
  };
}
