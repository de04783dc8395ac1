import { describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/errors';
import { GATEWAY_PORT } from '../shared/topology';
import { loadGatewayConfig } from './config';

const everywhere = { cwd: '/repo', exists: () => true };

function problemsOf(env: Record<string, string>, paths = everywhere): readonly string[] {
  try {
    loadGatewayConfig(env, paths);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadGatewayConfig', () => {
  it('uses the documented defaults', () => {
    const config = loadGatewayConfig({}, everywhere);
    expect(config).toMatchObject({
      port: GATEWAY_PORT,
      host: '127.0.0.1',
      natsUrl: 'nats://127.0.0.1:4222',
      redisUrl: 'redis://127.0.0.1:6379',
      maxPayloadBytes: 262_144,
      grpcMaxReceiveBytes: 1_048_576,
      idempotencyTtlSeconds: 86_400,
      protoDir: '/repo/proto',
      logLevel: 'info',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads overrides', () => {
    const config = loadGatewayConfig(
      { PORT: '0', HOST: '::', NATS_URL: 'nats://n:1', REDIS_URL: 'redis://r:2', TM_MAX_PAYLOAD_BYTES: '1000', TM_GRPC_MAX_RECEIVE_BYTES: '8192', TM_IDEMPOTENCY_TTL_SECONDS: '60', LOG_LEVEL: 'debug' },
      everywhere,
    );
    expect(config).toMatchObject({ port: 0, host: '::', natsUrl: 'nats://n:1', redisUrl: 'redis://r:2', maxPayloadBytes: 1000, grpcMaxReceiveBytes: 8192, idempotencyTtlSeconds: 60, logLevel: 'debug' });
  });

  it('refuses a gRPC receive limit above NATS max_payload, and a payload limit that gRPC would cut off', () => {
    expect(problemsOf({ TM_GRPC_MAX_RECEIVE_BYTES: '2097152' })).toEqual(['TM_GRPC_MAX_RECEIVE_BYTES must be <= 1048576, got 2097152']);
    expect(problemsOf({ TM_MAX_PAYLOAD_BYTES: '1048576' })[0]).toMatch(/TM_MAX_PAYLOAD_BYTES \(1048576\) must be below TM_GRPC_MAX_RECEIVE_BYTES/);
  });

  it('lists every problem at once', () => {
    const problems = problemsOf({ PORT: 'x', TM_IDEMPOTENCY_TTL_SECONDS: '0', REDIS_URL: 'not a url', LOG_LEVEL: 'loud' });
    expect(problems).toHaveLength(4);
    expect(problems).toContain('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"');
    expect(problems.join('\n')).toMatch(/PORT/);
    expect(problems.join('\n')).toMatch(/TM_IDEMPOTENCY_TTL_SECONDS/);
    expect(problems.join('\n')).toMatch(/REDIS_URL/);
  });

  it('finds the proto next to the bundle first, then in the working directory', () => {
    const existing = new Set(['/app/dist/proto/taskmanager.proto', '/repo/proto/taskmanager.proto']);
    const exists = (path: string) => existing.has(path);
    expect(loadGatewayConfig({}, { scriptPath: '/app/dist/gateway.cjs', cwd: '/repo', exists }).protoDir).toBe('/app/dist/proto');
    expect(loadGatewayConfig({}, { scriptPath: '/elsewhere/gateway.cjs', cwd: '/repo', exists }).protoDir).toBe('/repo/proto');
    expect(loadGatewayConfig({ TM_PROTO_DIR: '/repo/proto' }, { cwd: '/x', exists }).protoDir).toBe('/repo/proto');
  });

  it('says where it looked when the proto is nowhere', () => {
    const nowhere = { scriptPath: '/app/dist/gateway.cjs', cwd: '/repo', exists: () => false };
    expect(problemsOf({}, nowhere)).toEqual(['taskmanager.proto not found in /app/dist/proto or /repo/proto: set TM_PROTO_DIR']);
    expect(problemsOf({ TM_PROTO_DIR: '/nope' }, nowhere)).toEqual(['TM_PROTO_DIR: /nope/taskmanager.proto does not exist']);
  });

  it('names the operator tenants: default while authentication is off, only those listed once it is on', () => {
    const keys = 'acme:0123456789abcdef0123,globex:fedcba9876543210fedc';
    expect([...loadGatewayConfig({}, everywhere).operatorTenants]).toEqual(['default']);
    expect([...loadGatewayConfig({ TM_API_KEYS: keys }, everywhere).operatorTenants]).toEqual([]);
    expect([...loadGatewayConfig({ TM_API_KEYS: keys, TM_OPERATOR_TENANTS: 'acme, ops' }, everywhere).operatorTenants]).toEqual(['acme', 'ops']);
    expect(problemsOf({ TM_OPERATOR_TENANTS: 'acme,Not A Tenant' }).join('\n')).toMatch(/TM_OPERATOR_TENANTS: "Not A Tenant" is not a tenant name/);
  });
});
