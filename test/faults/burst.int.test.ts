// Fault scenario 11: a burst of submits far larger than any stage's delivery slots. Every task
// ends terminal, and the sources stay small while they work through it: the backlog waits in
// JetStream, not in a source's memory (docs/design.md §6, docs/decisions/0006-source-priority.md).
// TM_FAULT_BURST sets the size: 2,000 by default, fifteen times the largest source's slots (128),
// which is what the property needs and what fits the suite's time on two cores; the 10,000 is
// `TM_FAULT_BURST=10000 TM_FAULT_BURST_TIMEOUT_MS=900000` (figures in docs/reliability.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { FUNCTIONS } from '../../shared/topology';
import { sourceName } from '../../scripts/local-stack';
import { waitFor } from '../helpers/ports';
import { startTestStack, type TestStack } from '../helpers/stack';
import { checkInvariants } from './invariants';
import { startRunCounter } from './run-counter';
import { countTerminal, readConsumers, sampleRss } from './probes';
import { mapLimit, readSourceGauges } from './workload';

const BURST = Number(process.env.TM_FAULT_BURST ?? 2_000);
/** A source's old-space limit in this test. Smaller limits shrink V8's young generation too and
 * cost a lot of CPU in collections; this one still ends a source that keeps what it pulled. */
const SOURCE_HEAP_MIB = 256;
/** Generous: a source idles near 140–180 MiB (runtime, telemetry SDK, source maps), plus at most
 * its capped heap. The exact check of "holds no backlog" is the ack-pending bound below. */
const SOURCE_RSS_LIMIT_MIB = 450;
/** Generous for a loaded two-core machine; the throughput itself is `npm run bench`'s to judge. */
const BURST_TIMEOUT_MS = Number(process.env.TM_FAULT_BURST_TIMEOUT_MS ?? 600_000);

const SOURCED = FUNCTIONS.filter((fn) => fn.consumers.length > 0);

const SOURCE_NAMES = SOURCED.map(sourceName);

describe(`fault 11: a burst of ${BURST} submits`, () => {
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    // Each source gets a fixed heap: a source that kept the backlog (or leaked per message) would
    // run out of it and crash (the supervisor would restart it: asserted below). Without a cap,
    // V8 on a large machine lets garbage pile up before collecting, and RSS says little.
    stack = await startTestStack({
      processEnv: Object.fromEntries(SOURCE_NAMES.map((name) => [name, { NODE_OPTIONS: `--max-old-space-size=${SOURCE_HEAP_MIB}` }])),
    });
    client = createTaskManagerClient({ address: stack.gatewayAddress, deadlineMs: 120_000 });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await stack?.stop();
  }, 60_000);

  it('every task ends terminal while no source holds more than its delivery slots and its memory stays bounded', async () => {
    const runs = await startRunCounter(stack.nc);
    const started = Date.now();
    const rss = sampleRss((name) => stack.supervisor.pid(name), [...SOURCE_NAMES, 'gateway']);
    const idleRss = new Map(rss.peaks);
    // What each source holds (its own gauges: deliveries in flight plus messages pulled and
    // waiting for a slot): a source that buffered the backlog would show thousands here. Its
    // bound is its slots plus one held message per consumer. What each consumer has handed out
    // and not had settled (ack pending) is reported too; it may exceed the slots by deliveries
    // that were retried (a nak with a delay stays pending until it is redelivered).
    const maxHolding = new Map<string, number>();
    const maxAckPending = new Map<string, number>();
    let sampling = true;
    const sampleConsumers = (async () => {
      while (sampling) {
        for (const load of await readConsumers(stack.nc).catch(() => [])) {
          maxAckPending.set(load.durable, Math.max(maxAckPending.get(load.durable) ?? 0, load.ackPending));
        }
        await Promise.all(
          SOURCE_NAMES.map(async (name) => {
            const holding = await readSourceGauges(stack.ports[name]!).then((gauges) => gauges.inFlight + gauges.held, () => NaN);
            if (Number.isFinite(holding)) maxHolding.set(name, Math.max(maxHolding.get(name) ?? 0, holding));
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();

    const ids = await mapLimit(Array.from({ length: BURST }, (_, i) => i), 128, async (i) => {
      const { taskId } = await client.submit({ type: 'echo', payload: { i } });
      return taskId;
    });
    const submittedMs = Date.now() - started;
    console.log(`burst: ${BURST} submitted in ${(submittedMs / 1000).toFixed(1)} s`);
    expect(new Set(ids).size).toBe(BURST);

    let lastReport = Date.now();
    await waitFor(
      'every task of the burst to end terminal',
      async () => {
        const terminal = await countTerminal(stack.redis, ids);
        if (Date.now() - lastReport >= 15_000) {
          lastReport = Date.now();
          console.log(`burst: ${terminal} of ${BURST} terminal after ${((Date.now() - started) / 1000).toFixed(0)} s`);
        }
        return terminal === BURST;
      },
      BURST_TIMEOUT_MS,
      1_000,
    );
    const doneMs = Date.now() - started;
    sampling = false;
    await sampleConsumers;
    const peaks = rss.stop();

    const report = SOURCE_NAMES.map((name) => `${name} ${idleRss.get(name)?.toFixed(0)}→${peaks.get(name)?.toFixed(0)} MiB`);
    console.log(
      `burst of ${BURST}: submitted in ${(submittedMs / 1000).toFixed(1)} s, all terminal after ${(doneMs / 1000).toFixed(1)} s; ` +
        `peak source RSS ${Math.max(...SOURCE_NAMES.map((n) => peaks.get(n) ?? 0)).toFixed(0)} MiB ` +
        `(gateway ${peaks.get('gateway')?.toFixed(0)} MiB)\n  ${report.join('\n  ')}\n` +
        `  most held by a source (in flight + waiting) ${JSON.stringify(Object.fromEntries(maxHolding))}\n` +
        `  max ack pending per consumer ${JSON.stringify(Object.fromEntries(maxAckPending))}`,
    );

    for (const name of SOURCE_NAMES) {
      expect(stack.supervisor.restarts(name), `${name} was restarted (out of memory?)`).toBe(0);
      expect(peaks.get(name), name).toBeLessThan(SOURCE_RSS_LIMIT_MIB);
    }
    for (const fn of SOURCED) {
      const name = sourceName(fn);
      expect(maxHolding.has(name), `${name} never reported its gauges`).toBe(true);
      expect(maxHolding.get(name), name).toBeLessThanOrEqual(fn.maxInFlight + fn.consumers.length);
    }

    const invariants = await checkInvariants(stack.redis, { taskIds: ids, runs, expectedStates: new Map(ids.map((id) => [id, 'SUCCEEDED'])) });
    await runs.stop();
    expect(invariants.violations.slice(0, 20)).toEqual([]);
    expect(invariants.terminalCount).toBe(BURST);
  }, BURST_TIMEOUT_MS + 120_000);
});
