// Per-process metrics, under OpenTelemetry's semantic-convention names for processes and the V8
// runtime: CPU time by mode, resident memory, V8 heap in use and event-loop delay. Observed at
// collection time only (a scrape), so they cost nothing between scrapes but the event-loop
// histogram's sampling timer.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Meter } from '@opentelemetry/api';

export function observeProcess(meter: Meter): void {
  const cpu = meter.createObservableCounter('process.cpu.time', { unit: 's', description: 'Total CPU seconds broken down by mode.' });
  const memory = meter.createObservableUpDownCounter('process.memory.usage', { unit: 'By', description: 'The amount of physical memory in use (RSS).' });
  const heap = meter.createObservableUpDownCounter('v8js.memory.heap.used', { unit: 'By', description: 'Heap memory in use by V8.' });
  const delay = meter.createObservableGauge('nodejs.eventloop.delay.p99', { unit: 's', description: 'Event loop delay, 99th percentile since the last scrape.' });
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  meter.addBatchObservableCallback(
    (result) => {
      const usage = process.cpuUsage();
      result.observe(cpu, usage.user / 1e6, { 'cpu.mode': 'user' });
      result.observe(cpu, usage.system / 1e6, { 'cpu.mode': 'system' });
      const used = process.memoryUsage();
      result.observe(memory, used.rss);
      result.observe(heap, used.heapUsed);
      result.observe(delay, loop.percentile(99) / 1e9);
      loop.reset();
    },
    [cpu, memory, heap, delay],
  );
}
