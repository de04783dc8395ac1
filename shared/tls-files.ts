// Reads the certificate and key files that NATS_TLS_* / REDIS_TLS_* name, when connecting. A file
// that cannot be read is a configuration error naming its variable, not a connection failure.
import { readFileSync } from 'node:fs';
import type { TlsFile } from './config';
import { ConfigError, describeError } from './errors';

export type ReadFile = (path: string) => Buffer;

export function readTlsFile(file: TlsFile, read: ReadFile = readFileSync): Buffer {
  try {
    return read(file.path);
  } catch (error) {
    throw new ConfigError([`${file.variable}: cannot read "${file.path}": ${describeError(error)}`]);
  }
}
