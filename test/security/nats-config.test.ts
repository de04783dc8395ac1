// The shipped NATS config (configs/nats/nats.conf) against the contract: every process of the
// topology that connects to NATS has a user whose permissions are exactly what
// shared/nats-permissions.ts derives from shared/contract.ts + shared/topology.ts, with a
// password from its own environment variable; and the server settings are the documented ones.
// A stage, consumer or output subject added without its permission fails here.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NATS_MAX_PAYLOAD_BYTES } from '../../gateway/config';
import { toLocalStack } from '../../scripts/local-stack';
import { ALL_CONSUMERS, CONSUMERS, SUBJECTS, STREAM_TASKS, toPauseSubject } from '../../shared/contract';
import { toNatsAuthorizationBlock, toNatsUsers, toPasswordVariable, type NatsUser } from '../../shared/nats-permissions';
import { QUEUE_NAMES, queueOf } from '../../shared/queues';
import { FUNCTIONS, type FunctionName, type FunctionSpec } from '../../shared/topology';
import { ConfVariable, parseNatsConf, toBytes, type ConfMap, type ConfValue } from '../helpers/nats-conf';

export const NATS_CONF_PATH = resolve('configs/nats/nats.conf');
const conf = parseNatsConf(readFileSync(NATS_CONF_PATH, 'utf8'));

type ShippedUser = { user: string; password: ConfValue | undefined; publish: string[]; subscribe: string[] };

function asMap(value: ConfValue | undefined, where: string): ConfMap {
  if (value === undefined || typeof value !== 'object' || Array.isArray(value) || value instanceof ConfVariable) {
    throw new Error(`nats.conf: ${where} must be a block`);
  }
  return value;
}

/** Effective allow list: `deny: [">"]` alone = nothing allowed. */
function toAllowList(value: ConfValue | undefined, where: string): string[] {
  const map = asMap(value, where);
  const allow = map.allow;
  const deny = map.deny;
  if (allow === undefined) {
    if (Array.isArray(deny) && deny.length === 1 && deny[0] === '>') return [];
    throw new Error(`nats.conf: ${where} must have an allow list (or deny [">"] only): without one everything is allowed`);
  }
  if (deny !== undefined) throw new Error(`nats.conf: ${where} mixes allow and deny; keep to allow lists`);
  if (!Array.isArray(allow)) throw new Error(`nats.conf: ${where}.allow must be a list`);
  return allow.map(String).sort();
}

function toShippedUsers(config: ConfMap): ShippedUser[] {
  const users = asMap(config.authorization, 'authorization').users;
  if (!Array.isArray(users)) throw new Error('nats.conf: authorization.users must be a list');
  return users.map((entry, index) => {
    const user = asMap(entry, `users[${index}]`);
    const name = String(user.user);
    const permissions = asMap(user.permissions, `user ${name}: permissions`);
    return {
      user: name,
      password: user.password,
      publish: toAllowList(permissions.publish, `user ${name}: publish`),
      subscribe: toAllowList(permissions.subscribe, `user ${name}: subscribe`),
    };
  });
}

/** Every difference between the shipped users and the expected ones; [] when they agree. */
function compareUsers(shipped: readonly ShippedUser[], expected: readonly NatsUser[]): string[] {
  const differences: string[] = [];
  const byName = new Map(shipped.map((user) => [user.user, user]));
  for (const want of expected) {
    const have = byName.get(want.user);
    if (!have) {
      differences.push(`user ${want.user} is missing`);
      continue;
    }
    byName.delete(want.user);
    const sameList = (a: readonly string[], b: readonly string[]) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
    if (!sameList(have.publish, want.permissions.publish)) differences.push(`user ${want.user}: publish permissions differ`);
    if (!sameList(have.subscribe, want.permissions.subscribe)) differences.push(`user ${want.user}: subscribe permissions differ`);
    if (!(have.password instanceof ConfVariable) || have.password.name !== want.passwordVariable) {
      differences.push(`user ${want.user}: password must be $${want.passwordVariable}`);
    }
  }
  for (const extra of byName.keys()) differences.push(`user ${extra} is not a process of the topology`);
  return differences;
}

const shipped = toShippedUsers(conf);

describe('configs/nats/nats.conf', () => {
  it('has one user per process of the local stack that connects to NATS (all but the enricher and the dashboard)', () => {
    const specs = toLocalStack({ distDir: 'dist', natsUrl: 'nats://x', redisUrl: 'redis://x' });
    // The dashboard is a client of the gateway: the local stack gives it no NATS address at all.
    expect(specs.find((spec) => spec.name === 'dashboard')?.env.NATS_URL).toBeUndefined();
    const processes = specs.filter((spec) => spec.name !== 'dashboard').map((spec) => spec.name);
    const withoutNats = FUNCTIONS.filter((fn) => fn.consumers.length === 0).map((fn) => fn.name);
    expect(withoutNats).toEqual(['enricher']);
    const expected = processes.filter((name) => !(withoutNats as string[]).includes(name));
    expect(shipped.map((user) => user.user)).toEqual(expected);
    expect(toNatsUsers().map((user) => user.user)).toEqual(expected);
  });

  it('gives each user exactly the permissions derived from the contract, with its own password variable', () => {
    const differences = compareUsers(shipped, toNatsUsers());
    // On drift, paste the generated block into configs/nats/nats.conf.
    expect(differences, `nats.conf drifted from shared/nats-permissions.ts; expected block:\n${toNatsAuthorizationBlock()}`).toEqual([]);
    const variables = shipped.map((user) => (user.password as ConfVariable).name);
    expect(new Set(variables).size).toBe(shipped.length);
    expect(variables).toContain('NATS_PASSWORD_INGEST_SOURCE');
    expect(toPasswordVariable('result-store-source')).toBe('NATS_PASSWORD_RESULT_STORE_SOURCE');
  });

  it('a stage added to the topology without its NATS user fails the check', () => {
    const thumbnailer = {
      ...FUNCTIONS.find((fn) => fn.name === 'audit')!,
      name: 'thumbnailer' as FunctionName,
    } satisfies FunctionSpec;
    const differences = compareUsers(shipped, toNatsUsers([...FUNCTIONS, thumbnailer]));
    expect(differences).toEqual(['user thumbnailer is missing', 'user thumbnailer-source is missing']);
  });

  it('an output subject or consumer added to the contract without its permission fails the check', () => {
    const expected = toNatsUsers().map((user) =>
      user.user === 'worker' ? { ...user, permissions: { ...user.permissions, publish: [...user.permissions.publish, 'tasks.thumbnails'] } } : user,
    );
    expect(compareUsers(shipped, expected)).toEqual(['user worker: publish permissions differ']);
  });

  it('grants least privilege: each stage publishes its outputs only, each source touches its own consumers only', () => {
    const user = (name: string) => shipped.find((candidate) => candidate.user === name)!;
    expect(user('worker').publish).toContain(SUBJECTS.results);
    expect(user('worker').publish).not.toContain(SUBJECTS.ingest);
    // The gateway: its two outputs, the TASKS fill level for admission control, the queues'
    // pause state (write every queue's record, read them back), and for GetQueueStats every
    // consumer's INFO and the oldest message each holds (read only).
    const pauseRecords = QUEUE_NAMES.map(toPauseSubject);
    const queueStats = [...ALL_CONSUMERS.map((spec) => `$JS.API.CONSUMER.INFO.${spec.stream}.${spec.durable}`), '$JS.API.STREAM.MSG.GET.TASKS', '$JS.API.STREAM.MSG.GET.EVENTS'];
    expect(user('gateway').publish.sort()).toEqual(
      [SUBJECTS.audit, SUBJECTS.ingest, '$JS.API.STREAM.INFO.TASKS', ...pauseRecords, '$JS.API.STREAM.MSG.GET.PAUSES', ...queueStats].sort(),
    );
    // Only the gateway may pause or resume a queue.
    for (const subject of pauseRecords) {
      expect(shipped.filter((candidate) => candidate.publish.includes(subject)).map((candidate) => candidate.user), subject).toEqual(['gateway']);
    }
    for (const name of ['notifier', 'audit', 'deadletter', 'deadletter-source'] as const) {
      const publishes = user(name).publish.filter((subject) => !subject.startsWith('$JS.'));
      expect(publishes, name).toEqual([]);
    }
    // Every pull and ack subject belongs to exactly one source, the one of that consumer's stage.
    for (const [stage, specs] of Object.entries(CONSUMERS)) {
      for (const spec of specs) {
        const pull = `$JS.API.CONSUMER.MSG.NEXT.${spec.stream}.${spec.durable}`;
        const holders = shipped.filter((candidate) => candidate.publish.includes(pull)).map((candidate) => candidate.user);
        expect(holders).toEqual([`${stage}-source`]);
      }
    }
    // Only setup may create or update streams and consumers.
    const admins = shipped.filter((candidate) => candidate.publish.some((subject) => /\.(CREATE|UPDATE|DELETE)\./.test(subject)));
    expect(admins.map((candidate) => candidate.user)).toEqual(['setup']);
    // Nobody subscribes to anything but its own inboxes: all work arrives through pull requests.
    // A source also follows the pause records of its own queues (a record, not work).
    for (const candidate of shipped) {
      const fn = FUNCTIONS.find((spec) => `${spec.name}-source` === candidate.user);
      const allowed = [`_INBOX.${candidate.user}.>`, ...(fn ? [...new Set(fn.consumers.map(queueOf))].map(toPauseSubject) : [])];
      expect(candidate.subscribe.filter((subject) => !allowed.includes(subject)), candidate.user).toEqual([]);
      if (fn) expect(candidate.subscribe.sort(), candidate.user).toEqual(allowed.sort());
    }
  });

  it('every consumed subject has a publisher, and sources of task streams may report FAILED', () => {
    for (const spec of ALL_CONSUMERS) {
      const publishers = shipped.filter((candidate) => candidate.publish.includes(spec.filterSubject));
      expect(publishers.length, `${spec.filterSubject} has no publisher`).toBeGreaterThan(0);
    }
    for (const fn of FUNCTIONS.filter((candidate) => candidate.consumers.some((spec) => spec.stream === STREAM_TASKS))) {
      expect(shipped.find((candidate) => candidate.user === `${fn.name}-source`)!.publish).toContain(SUBJECTS.status);
    }
  });

  it('has the documented server settings: fsync always, 1 MB payloads (the gateway limit), monitoring on 8222', () => {
    const jetstream = asMap(conf.jetstream, 'jetstream');
    expect(jetstream.store_dir).toBe('/data/jetstream');
    expect(jetstream.sync_interval).toBe('always');
    expect(toBytes(conf.max_payload)).toBe(NATS_MAX_PAYLOAD_BYTES);
    expect(conf.http_port).toBe(8222);
    expect(conf.port).toBe(4222);
  });
});
