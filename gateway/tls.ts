// TLS on the gateway's own port: with TM_TLS_CERT_FILE and TM_TLS_KEY_FILE set, it serves gRPC
// over TLS, so that API keys never cross the network in clear text when no proxy terminates TLS
// in front of it. The files are read and checked once, at startup, before anything connects:
// an unreadable file or a key that does not fit the certificate is a ConfigError naming the
// variables, not a failed handshake later.
import { createSecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { TlsFile } from '../shared/config';
import { ConfigError, describeError } from '../shared/errors';
import { readTlsFile, type ReadFile } from '../shared/tls-files';

export type GatewayTls = Readonly<{ cert: TlsFile; key: TlsFile }>;

export function toServerCredentials(tls: GatewayTls | undefined, read?: ReadFile): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const cert = readTlsFile(tls.cert, read);
  const key = readTlsFile(tls.key, read);
  try {
    // The same checks the handshake would make, now: PEM syntax, and a key that fits the certificate.
    createSecureContext({ cert, key });
  } catch (error) {
    throw new ConfigError([`${tls.cert.variable} and ${tls.key.variable}: not a usable certificate and private key: ${describeError(error)}`]);
  }
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false);
}
