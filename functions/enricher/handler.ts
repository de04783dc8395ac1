// The enricher: a stand-in for an external API that ingest calls synchronously (plain HTTP, not
// a CloudEvents function). Takes {taskId, type, metadata}, answers {enrichment} derived
// deterministically from the input (so a retried call yields the same enrichment, apart from
// `enrichedAtMs`). Simulated latency and a simulated error rate let tests and benchmarks
// exercise ingest's timeout and retry paths. No side effects; nothing is retried here: a
// simulated failure is a DependencyUnavailableError (503) and the caller retries.
import { createHash } from '../../shared/lazy-crypto';
import { DependencyUnavailableError, ValidationError } from '../../shared/errors';

export type EnrichRequest = {
  taskId: string;
  type: string;
  metadata: Record<string, string>;
};

export type Enrichment = {
  region: string;
  tier: string;
  /** Stable 0..SHARDS-1 bucket of the task id, e.g. for partitioned downstream work. */
  shard: number;
  /** Short stable fingerprint of (taskId, type). */
  fingerprint: string;
  enrichedAtMs: number;
};

export type EnricherConfig = {
  /** Simulated latency of every call. */
  latencyMs: number;
  /** Probability (0..1) that a call fails with 503. */
  errorRate: number;
};

export type EnricherDeps = {
  config: EnricherConfig;
  now: () => number;
  /** Uniform in [0, 1): injected so tests decide when the simulated failure strikes. */
  random: () => number;
  sleep: (ms: number) => Promise<void>;
};

/** One request's outcome in a batch: its enrichment, or the error a call of its own would have
 * answered (a ValidationError for a bad item, a DependencyUnavailableError for a simulated failure). */
export type EnrichOutcome = { enrichment: Enrichment } | { error: Error };

export type EnrichHandler = {
  /** Validates the parsed JSON body and returns the response body. */
  enrich(body: unknown): Promise<{ enrichment: Enrichment }>;
  /** A batch (POST /enrich/batch): a JSON array of requests, answered one outcome per request, in
   * order. One simulated latency for the whole call, as one call to an external API has. */
  enrichMany(body: unknown): Promise<EnrichOutcome[]>;
};

/** Most requests in one batch call. */
export const MAX_BATCH_REQUESTS = 256;

export const REGIONS = ['eu-west', 'us-east', 'ap-south'] as const;
export const TIERS = ['free', 'standard', 'premium'] as const;
export const SHARDS = 16;
const REGION_PATTERN = /^[a-z0-9-]{1,32}$/;
const MAX_ID_LENGTH = 256;

export function parseEnrichRequest(body: unknown): EnrichRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationError('request body must be a JSON object with taskId, type and metadata', { field: 'body' });
  }
  const record = body as Record<string, unknown>;
  const requireString = (field: 'taskId' | 'type'): string => {
    const value = record[field];
    if (typeof value !== 'string' || value === '') {
      throw new ValidationError(`${field} is required and must be a non-empty string`, { field });
    }
    if (value.length > MAX_ID_LENGTH) {
      throw new ValidationError(`${field} must be at most ${MAX_ID_LENGTH} characters`, { field });
    }
    return value;
  };
  const taskId = requireString('taskId');
  const type = requireString('type');
  const metadata = record.metadata ?? {};
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new ValidationError('metadata must be an object of strings', { field: 'metadata' });
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new ValidationError(`metadata.${key} must be a string`, { field: `metadata.${key}` });
    }
  }
  return { taskId, type, metadata: metadata as Record<string, string> };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Pure: the enrichment of a request at time `nowMs`. */
export function toEnrichment(request: EnrichRequest, nowMs: number): Enrichment {
  const idHash = digest(request.taskId);
  const askedRegion = request.metadata.region;
  const askedTier = request.metadata.tier;
  return {
    region:
      askedRegion !== undefined && REGION_PATTERN.test(askedRegion)
        ? askedRegion
        : REGIONS[idHash.readUInt32BE(0) % REGIONS.length]!,
    tier: askedTier !== undefined && (TIERS as readonly string[]).includes(askedTier) ? askedTier : 'standard',
    shard: idHash.readUInt32BE(4) % SHARDS,
    fingerprint: digest(`${request.taskId}\n${request.type}`).toString('hex').slice(0, 16),
    enrichedAtMs: nowMs,
  };
}

/** The items of a batch body; a body that is not a batch at all is refused as a whole. */
export function parseBatchBody(body: unknown): unknown[] {
  if (!Array.isArray(body)) throw new ValidationError('a batch body must be a JSON array of requests', { field: 'body' });
  if (body.length === 0) throw new ValidationError('a batch body must hold at least one request', { field: 'body' });
  if (body.length > MAX_BATCH_REQUESTS) {
    throw new ValidationError(`a batch body holds at most ${MAX_BATCH_REQUESTS} requests, got ${body.length}`, { field: 'body' });
  }
  return body;
}

export function createHandler(deps: EnricherDeps): EnrichHandler {
  const failsThisTime = () => deps.config.errorRate > 0 && deps.random() < deps.config.errorRate;
  const simulatedFailure = () => new DependencyUnavailableError('enricher failed (simulated by ENRICHER_ERROR_RATE)');
  return {
    async enrich(body) {
      // Validate first: bad input is refused at once, without the simulated latency or failure.
      const request = parseEnrichRequest(body);
      if (deps.config.latencyMs > 0) await deps.sleep(deps.config.latencyMs);
      if (failsThisTime()) throw simulatedFailure();
      return { enrichment: toEnrichment(request, deps.now()) };
    },
    async enrichMany(body) {
      const parsed = parseBatchBody(body).map((item): EnrichRequest | Error => {
        try {
          return parseEnrichRequest(item);
        } catch (error) {
          return error as Error;
        }
      });
      if (deps.config.latencyMs > 0) await deps.sleep(deps.config.latencyMs);
      const nowMs = deps.now();
      return parsed.map((request) => {
        if (request instanceof Error) return { error: request };
        return failsThisTime() ? { error: simulatedFailure() } : { enrichment: toEnrichment(request, nowMs) };
      });
    },
  };
}
