// The gateway's own TLS settings: both files or neither, and files that are read and checked at
// startup, with problems that name the variables.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/errors';
import { createCertificates, type TestCertificates } from '../test/helpers/certificates';
import { loadGatewayConfig } from './config';
import { toServerCredentials, type GatewayTls } from './tls';

const everywhere = { cwd: '/repo', exists: () => true };

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('TM_TLS_CERT_FILE and TM_TLS_KEY_FILE', () => {
  it('neither: plaintext (h2c); both: TLS with the files named by their variables', () => {
    expect(loadGatewayConfig({}, everywhere).tls).toBeUndefined();
    expect(loadGatewayConfig({ TM_TLS_CERT_FILE: '/tls/cert.pem', TM_TLS_KEY_FILE: '/tls/key.pem' }, everywhere).tls).toEqual({
      cert: { variable: 'TM_TLS_CERT_FILE', path: '/tls/cert.pem' },
      key: { variable: 'TM_TLS_KEY_FILE', path: '/tls/key.pem' },
    });
  });

  it('one without the other is a problem naming the missing one', () => {
    expect(problemsOf(() => loadGatewayConfig({ TM_TLS_CERT_FILE: '/tls/cert.pem' }, everywhere))).toEqual([
      'TM_TLS_CERT_FILE and TM_TLS_KEY_FILE go together (TM_TLS_KEY_FILE is not set)',
    ]);
    expect(problemsOf(() => loadGatewayConfig({ TM_TLS_KEY_FILE: '/tls/key.pem' }, everywhere))).toEqual([
      'TM_TLS_CERT_FILE and TM_TLS_KEY_FILE go together (TM_TLS_CERT_FILE is not set)',
    ]);
  });
});

describe('toServerCredentials', () => {
  let dir: string;
  let certs: TestCertificates;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tm-gateway-tls-'));
    certs = createCertificates(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const tlsOf = (cert: string, key: string): GatewayTls => ({
    cert: { variable: 'TM_TLS_CERT_FILE', path: cert },
    key: { variable: 'TM_TLS_KEY_FILE', path: key },
  });

  it('serves plaintext without TLS settings, and TLS with a certificate and its key', () => {
    expect(toServerCredentials(undefined)._isSecure()).toBe(false);
    expect(toServerCredentials(tlsOf(certs.serverCert, certs.serverKey))._isSecure()).toBe(true);
  });

  it('an unreadable file names its variable and path', () => {
    const missing = join(dir, 'missing.pem');
    expect(problemsOf(() => toServerCredentials(tlsOf(missing, certs.serverKey)))).toEqual([
      `TM_TLS_CERT_FILE: cannot read "${missing}": ENOENT: no such file or directory, open '${missing}'`,
    ]);
    expect(problemsOf(() => toServerCredentials(tlsOf(certs.serverCert, missing)))[0]).toMatch(/^TM_TLS_KEY_FILE: cannot read "/);
  });

  it('a key that does not fit the certificate, or a file that is not PEM, names both variables', () => {
    const [mismatch] = problemsOf(() => toServerCredentials(tlsOf(certs.serverCert, certs.clientKey)));
    expect(mismatch).toMatch(/^TM_TLS_CERT_FILE and TM_TLS_KEY_FILE: not a usable certificate and private key: .*key values mismatch/);
    const [garbage] = problemsOf(() => toServerCredentials(tlsOf(certs.serverCert, certs.serverCert)));
    expect(garbage).toMatch(/^TM_TLS_CERT_FILE and TM_TLS_KEY_FILE: not a usable certificate and private key/);
    // The message never holds the key's text.
    expect(garbage).not.toContain(readFileSync(certs.serverKey, 'utf8').split('\n')[1]);
  });
});
