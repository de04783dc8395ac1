import { describe, expect, it } from 'vitest';
import { createEnvReader } from './config';
import { ConfigError } from './errors';
import { readQueueStatsSettings, toQueueStats } from './queue-stats';

describe('toQueueStats', () => {
  const NOW = 1_000_000;

  it('sums the counts of a queue with several consumers (audit) and takes the oldest message of any', () => {
    const stats = toQueueStats(
      'audit',
      [
        { pending: 3, inFlight: 1, oldestPublishedMs: NOW - 2_000 },
        { pending: 4, inFlight: 2, oldestPublishedMs: NOW - 7_000 },
      ],
      NOW,
    );
    expect(stats).toEqual({ queue: 'audit', pending: 7, inFlight: 3, oldestPendingAgeMs: 7_000, consumers: 2 });
  });

  it('reads a consumer that does not exist as zeros, and counts only the consumers that do', () => {
    expect(toQueueStats('audit', [undefined, { pending: 2, inFlight: 0, oldestPublishedMs: NOW - 10 }], NOW)).toEqual({
      queue: 'audit', pending: 2, inFlight: 0, oldestPendingAgeMs: 10, consumers: 1,
    });
    expect(toQueueStats('ingest', [undefined], NOW)).toEqual({ queue: 'ingest', pending: 0, inFlight: 0, oldestPendingAgeMs: 0, consumers: 0 });
  });

  it('gives age 0 when nothing is held, and never a negative age when the server clock runs ahead', () => {
    expect(toQueueStats('results', [{ pending: 0, inFlight: 0, oldestPublishedMs: undefined }], NOW).oldestPendingAgeMs).toBe(0);
    expect(toQueueStats('results', [{ pending: 1, inFlight: 0, oldestPublishedMs: NOW + 50 }], NOW).oldestPendingAgeMs).toBe(0);
  });
});

describe('readQueueStatsSettings', () => {
  it('caches for 1 s and shows the default dead-letter cap when nothing is set', () => {
    const reader = createEnvReader({});
    expect(readQueueStatsSettings(reader)).toEqual({ cacheMs: 1_000, deadLetterCap: 100_000 });
    reader.finish();
  });

  it('reads both, and names each value out of range', () => {
    const reader = createEnvReader({ TM_QUEUE_STATS_CACHE_MS: '0', TM_DEADLETTER_CAP: '5' });
    expect(readQueueStatsSettings(reader)).toEqual({ cacheMs: 0, deadLetterCap: 5 });
    reader.finish();
    const bad = createEnvReader({ TM_QUEUE_STATS_CACHE_MS: '60001', TM_DEADLETTER_CAP: '0' });
    readQueueStatsSettings(bad);
    expect(() => bad.finish()).toThrow(ConfigError);
    expect(() => bad.finish()).toThrow(/TM_QUEUE_STATS_CACHE_MS must be <= 60000[\s\S]*TM_DEADLETTER_CAP must be >= 1/);
  });
});
