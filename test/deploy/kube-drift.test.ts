// k8s/ and knative/ against the one topology: every stage, consumer and process of
// shared/topology.ts and the local stack has its workload with the same command, environment and
// ports, and the autoscalers name the right streams and consumers. The mutated copies show that
// each kind of drift is caught.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../shared/topology';
import { currentTopology, findDrift, type Topology } from './kube-drift';
import { cloneObjects, find, podTemplateOf, renderObjects, type KubeObject } from './kube-manifests';

const rendered: Record<'k8s' | 'knative', KubeObject[]> = { k8s: [], knative: [] };
let scratch: string;

beforeAll(() => {
  rendered.k8s = renderObjects('k8s');
  rendered.knative = renderObjects('knative');
  scratch = mkdtempSync(join(tmpdir(), 'tm-deploy-drift-'));
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function container(objects: KubeObject[], kind: string, name: string, containerName: string, group?: string) {
  const owner = find(objects, kind, name, group);
  const found = owner && podTemplateOf(owner)?.spec.containers.find((candidate) => candidate.name === containerName);
  if (!found) throw new Error(`${kind}/${name} container ${containerName} not rendered`);
  return found;
}

describe('the manifests match the topology', () => {
  it.each(['k8s', 'knative'] as const)('%s: every process, port, env var, consumer and scaling setting agrees', (flavour) => {
    expect(findDrift(rendered[flavour], flavour)).toEqual([]);
  });

  it('covers every stage: each function has its workload in both renders', () => {
    // Guards the guard: an empty topology would make the drift check vacuous.
    const topology = currentTopology();
    expect(topology.functions.map((fn) => fn.name)).toEqual(FUNCTIONS.map((fn) => fn.name));
    // setup, the functions, their sources, the gateway and the dashboard.
    expect(topology.processes.length).toBe(1 + FUNCTIONS.length + FUNCTIONS.filter((fn) => fn.consumers.length > 0).length + 2);
  });
});

describe('drift is caught', () => {
  it('a KEDA trigger that is missing, or names another stream, is reported', () => {
    const objects = cloneObjects(rendered.k8s);
    const scaled = find(objects, 'ScaledObject', 'worker')!;
    const triggers = scaled.spec!.triggers as { metadata: Record<string, string> }[];
    triggers.pop();
    triggers[0]!.metadata.stream = 'EVENTS';
    expect(findDrift(objects, 'k8s')).toEqual([
      'k8s ScaledObject/worker: trigger for worker-high has stream "EVENTS", expected "TASKS"',
      'k8s ScaledObject/worker: expected one nats-jetstream trigger for consumer worker-low, found 0',
    ]);
  });

  it('a port or env var that differs from the local stack is reported', () => {
    const objects = cloneObjects(rendered.k8s);
    const ingest = container(objects, 'Deployment', 'ingest', 'ingest');
    ingest.env!.find((variable) => variable.name === 'ENRICHER_URL')!.value = 'http://enricher:9999';
    ingest.env!.push({ name: 'TM_EXTRA', value: '1' });
    const source = container(objects, 'Deployment', 'scheduler', 'scheduler-source');
    source.env = source.env!.filter((variable) => variable.name !== 'TM_SOURCE_FUNCTION');
    expect(findDrift(objects, 'k8s')).toEqual([
      'k8s Deployment/ingest container ingest: env ENRICHER_URL is "http://enricher:9999", expected "http://enricher:8100"',
      'k8s Deployment/ingest container ingest: env TM_EXTRA is not in the local stack\'s environment',
      'k8s Deployment/scheduler container scheduler-source: env TM_SOURCE_FUNCTION is missing (expected "scheduler")',
    ]);
  });

  it('a command pointing at another bundle is reported', () => {
    const objects = cloneObjects(rendered.knative);
    const source = container(objects, 'ContainerSource', 'audit-source', 'audit-source');
    source.args = source.args!.map((arg) => arg.replace('source.cjs', 'functions/audit.cjs'));
    expect(findDrift(objects, 'knative')).toEqual([expect.stringMatching(/^knative ContainerSource\/audit-source container audit-source: command is .*functions\/audit\.cjs/)]);
  });

  it('a missing stage is reported, in the manifests or in the topology', () => {
    const withoutDeadletter = rendered.knative.filter((object) => !object.metadata.name.startsWith('deadletter'));
    expect(findDrift(withoutDeadletter, 'knative')).toEqual([
      'knative: process deadletter has no container (expected in Service/deadletter)',
      'knative: process deadletter-source has no container (expected in ContainerSource/deadletter-source)',
      'knative: function deadletter has no Knative Service',
    ]);

    // A stage added to the topology but not to the manifests.
    const current = currentTopology();
    const reporter = { ...FUNCTIONS.find((fn) => fn.name === 'audit')!, name: 'reporter' as never, port: 8108, sourcePort: 9108 };
    const topology: Topology = {
      functions: [...current.functions, reporter],
      processes: [...current.processes, { name: 'reporter', args: ['--enable-source-maps'], env: {} }],
    };
    expect(findDrift(rendered.k8s, 'k8s', topology)).toEqual([
      'k8s: process reporter has no container (expected in Deployment/reporter)',
      'k8s: no KEDA ScaledObject scales reporter',
    ]);
  });

  it('Knative scaling that differs from the topology is reported', () => {
    const objects = cloneObjects(rendered.knative);
    const worker = podTemplateOf(find(objects, 'Service', 'worker', 'serving.knative.dev')!)!;
    worker.metadata!.annotations!['autoscaling.knative.dev/min-scale'] = '1';
    worker.metadata!.annotations!['autoscaling.knative.dev/maxscale'] = '9';
    worker.spec.timeoutSeconds = 600;
    expect(findDrift(objects, 'knative')).toEqual([
      'knative Service/worker: annotation autoscaling.knative.dev/min-scale is "1", expected "0"',
      'knative Service/worker: unknown annotation autoscaling.knative.dev/maxscale',
      'knative Service/worker: timeoutSeconds 600 is shorter than the longest task (3660000 ms)',
    ]);
  });

  it('an unknown workload is reported', () => {
    const objects = cloneObjects(rendered.k8s);
    const stray = cloneObjects([find(objects, 'Deployment', 'audit')!])[0]!;
    stray.metadata.name = 'audit-copy';
    podTemplateOf(stray)!.spec.containers = [{ ...podTemplateOf(stray)!.spec.containers[0]!, name: 'audit-copy' }];
    expect(findDrift([...objects, stray], 'k8s')).toEqual([
      'k8s: Deployment/audit-copy container audit-copy is neither a process of the local stack nor known infrastructure',
    ]);
  });

  it('an edit to a copy of k8s/ on disk fails the drift check once rendered', () => {
    const copy = join(scratch, 'k8s');
    cpSync('k8s', copy, { recursive: true });
    const file = join(copy, 'base/functions/result-store.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('containerPort: 8104', 'containerPort: 8114'));
    const problems = findDrift(renderObjects(copy), 'k8s');
    expect(problems).toContain('k8s Deployment/result-store container result-store: containerPorts [8114] do not include PORT 8104');
  });
});
