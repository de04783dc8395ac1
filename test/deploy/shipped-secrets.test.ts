// No key or password that works out of the box is shipped: no file of k8s/, knative/ or
// docker-compose.yml holds a placeholder secret (the rule of shared/placeholder-secret.ts, which
// the components enforce at start), and the rendered manifests carry no Secret value that is one.
// The Secrets themselves are created by the operator (kube-resolution.test.ts checks the references).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderObjects, type KubeObject } from './kube-manifests';
import { findPlaceholderLines, findPlaceholderSecretValues } from './operator-secrets';

const SHIPPED = ['k8s', 'knative', 'docker-compose.yml'];

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((entry) => filesUnder(join(path, entry)));
}

const shippedFiles = () => SHIPPED.flatMap(filesUnder).map((path) => ({ path, text: readFileSync(path, 'utf8') }));

const rendered: Record<'k8s' | 'knative', KubeObject[]> = { k8s: [], knative: [] };
beforeAll(() => {
  rendered.k8s = renderObjects('k8s');
  rendered.knative = renderObjects('knative');
});

describe('shipped deployment files', () => {
  it('hold no placeholder secret in k8s/, knative/ or docker-compose.yml (comments aside)', () => {
    const files = shippedFiles();
    expect(files.length).toBeGreaterThan(40);
    expect(findPlaceholderLines(files)).toEqual([]);
  });

  it.each(['k8s', 'knative'] as const)('%s renders no Secret whose value is a placeholder', (flavour) => {
    expect(findPlaceholderSecretValues(rendered[flavour])).toEqual([]);
  });

  it('the checks catch what used to be shipped: a key file, a generator literal and a compose default', () => {
    const files = [
      { path: 'k8s/base/secrets/gateway-api-keys.txt', text: '# DEVELOPMENT PLACEHOLDER: replace me\ndefault:placeholder-api-key-change-me\n' },
      { path: 'k8s/base/observability/kustomization.yaml', text: '    literals:\n      - admin-password=placeholder-grafana-password-change-me # dev\n' },
      { path: 'docker-compose.yml', text: '    NATS_PASSWORD_SETUP: ${NATS_PASSWORD_SETUP:-CHANGEME}\n' },
    ];
    expect(findPlaceholderLines(files)).toEqual([
      'k8s/base/secrets/gateway-api-keys.txt:2 holds a placeholder secret',
      'k8s/base/observability/kustomization.yaml:2 holds a placeholder secret',
      'docker-compose.yml:1 holds a placeholder secret',
    ]);
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'gateway-api-keys' },
      data: { 'api-keys': Buffer.from('# keys\nacme:0123456789abcdef0123\ndefault:placeholder-api-key-change-me\n').toString('base64') },
    };
    expect(findPlaceholderSecretValues([secret])).toEqual(['Secret/gateway-api-keys key api-keys holds a placeholder']);
  });
});
