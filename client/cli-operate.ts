// The operator's `tm` commands (docs/client.md): dlq replay, audit, stats, pause and resume.
// Each prints one line per item, or with --json one JSON object per line.
import type { TaskManagerClient } from './client';
import type { AuditEvent, QueueStats, ReplayResult } from './types';

type Out = { write(chunk: string): unknown };

const toJsonLine = (value: unknown) => `${JSON.stringify(value)}\n`;

/** `2026-12-04T01:02:03.004Z  worker  handler.started  attempt=1  type echo` */
export function formatAuditEvent(event: AuditEvent): string {
  return [new Date(event.atMs).toISOString(), event.stage.padEnd(12), event.action.padEnd(18), `attempt=${event.attempt}`, event.detail].join('  ').trimEnd();
}

/** Every page of the trail, oldest first. */
export async function printAudit(client: TaskManagerClient, taskId: string, json: boolean, out: Out): Promise<void> {
  let pageToken: string | undefined;
  do {
    const page = await client.listAuditEvents(taskId, { pageSize: 1000, pageToken });
    for (const event of page.events) out.write(json ? toJsonLine(event) : `${formatAuditEvent(event)}\n`);
    pageToken = page.nextPageToken;
  } while (pageToken);
}

export function printReplay(result: ReplayResult, dryRun: boolean, json: boolean, out: Out): void {
  if (json) {
    out.write(toJsonLine({ ...result, nextPageToken: undefined }));
    return;
  }
  for (const id of result.wouldReplay) out.write(`would replay ${id}\n`);
  for (const taskId of result.taskIds) out.write(`${taskId}\n`);
  for (const skipped of result.skipped) out.write(`skipped ${skipped.id}: ${skipped.reason}\n`);
  const made = result.replayed - result.alreadyReplayed;
  const summary = dryRun
    ? `dry run: ${result.wouldReplay.length} would be replayed, ${result.alreadyReplayed} already were, ${result.skipped.length} skipped`
    : `replayed ${made} dead letter(s) as new tasks, ${result.alreadyReplayed} had been replayed before, ${result.skipped.length} skipped`;
  out.write(`${summary}\n`);
}

/** `worker.medium  pending=12  in_flight=3  oldest=1520ms  paused` */
export function formatQueueStats(stats: QueueStats): string[] {
  const lines = stats.queues.map((queue) =>
    [queue.queue.padEnd(14), `pending=${queue.pending}`, `in_flight=${queue.inFlight}`, `oldest=${queue.oldestPendingAgeMs}ms`, queue.paused ? 'PAUSED' : ''].join('  ').trimEnd(),
  );
  if (stats.queues.length > 0) lines.push(`delayed=${stats.delayed}`);
  lines.push(`dead_letters=${stats.deadLetters}  dropped=${stats.deadLettersDropped}  cap=${stats.deadLetterCap}`);
  return lines;
}

export function printStats(stats: QueueStats, json: boolean, out: Out): void {
  if (json) {
    out.write(toJsonLine(stats));
    return;
  }
  for (const line of formatQueueStats(stats)) out.write(`${line}\n`);
}
