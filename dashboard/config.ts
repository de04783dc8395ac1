// The dashboard's configuration, read once from the environment (pure: the entry passes
// process.env in). It has no credentials of its own: every call to the gateway carries the key
// of the browser that asked (docs/decisions/0017-web-dashboard.md).
import { createEnvReader, readListenHost, readLogLevel, type Env } from '../shared/config';
import { DASHBOARD_PORT, GATEWAY_PORT } from '../shared/topology';

export type DashboardConfig = Readonly<{
  host: string;
  port: number;
  /** host:port of the gateway's gRPC API (or of Envoy in front of it). */
  gatewayAddress: string;
  /** TLS to the gateway: off, on against the system CAs, or against this CA file. */
  gatewayTls: Readonly<{ enabled: boolean; caFile: string | undefined }>;
  logLevel: string;
  shutdownGraceMs: number;
}>;

/** host:port, host a name, an IPv4 address or a bracketed IPv6 address. */
const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

export function isGatewayAddress(value: string): boolean {
  const match = ADDRESS.exec(value);
  return match !== null && Number(match[3]) > 0 && Number(match[3]) <= 65_535;
}

export function loadDashboardConfig(env: Env): DashboardConfig {
  const reader = createEnvReader(env);
  const port = reader.int('PORT', DASHBOARD_PORT, { min: 0, max: 65_535 });
  const host = readListenHost(reader);
  const gatewayAddress = reader.string('TM_GATEWAY_ADDRESS', `127.0.0.1:${GATEWAY_PORT}`);
  if (!isGatewayAddress(gatewayAddress)) reader.problem(`TM_GATEWAY_ADDRESS must be host:port (e.g. gateway:50051), got "${gatewayAddress}"`);
  const caFile = reader.string('TM_GATEWAY_CA_FILE', '') || undefined;
  const tls = reader.bool('TM_GATEWAY_TLS', false) || caFile !== undefined;
  const logLevel = readLogLevel(reader);
  const shutdownGraceMs = reader.int('TM_SHUTDOWN_GRACE_MS', 25_000, { min: 0 });
  reader.finish();
  return Object.freeze({ host, port, gatewayAddress, gatewayTls: Object.freeze({ enabled: tls, caFile }), logLevel, shutdownGraceMs });
}
