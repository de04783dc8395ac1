// The Secrets that k8s/ and knative/ reference but deliberately do not ship: the operator creates
// them with the commands of docs/deploy.md ("Secrets"), which are read here as the list of what
// may be referenced without being rendered. Also the check that nothing shipped holds a
// placeholder secret (shared/placeholder-secret.ts: the rule every component enforces at start).
// Pure: texts and objects in, findings out.
import { isPlaceholderSecret } from '../../shared/placeholder-secret';
import { nameOf, type KubeObject } from './kube-manifests';
import { NAMESPACE } from './kube-drift';

export const DEPLOY_DOC = 'docs/deploy.md';

/** Secret name → the keys the documented commands put in it. */
export type OperatorSecrets = ReadonlyMap<string, readonly string[]>;

const CREATE = /kubectl -n (\S+) create secret generic ([a-z0-9-]+)/g;

/**
 * The Secrets that `kubectl -n <ns> create secret generic <name> …` commands of the deploy guide
 * create, with their keys: `--from-literal=<key>=…` / `--from-file=<key>=…`, and the users of a
 * `for user in a b c; do … --from-literal=%s=…` loop. A command runs until a blank line or the next `kubectl`;
 * a command that only re-creates a Secret (`--dry-run`) adds nothing new.
 */
export function readOperatorSecrets(markdown: string, namespace: string = NAMESPACE): OperatorSecrets {
  const secrets = new Map<string, string[]>();
  for (const match of markdown.matchAll(CREATE)) {
    if (match[1] !== namespace) continue;
    const rest = markdown.slice(match.index + match[0].length);
    const end = rest.search(/\n\s*\n|\bkubectl\s/);
    const command = end === -1 ? rest : rest.slice(0, end);
    const keys = [...command.matchAll(/--from-(?:literal|file)=([A-Za-z0-9._-]+)=/g)].map((key) => key[1]!);
    const loop = /for user in ([^;]+); do[\s\S]*--from-literal=%s=/.exec(command);
    if (loop) keys.push(...loop[1]!.trim().split(/\s+/));
    const known = secrets.get(match[2]!) ?? [];
    secrets.set(match[2]!, [...new Set([...known, ...keys])]);
  }
  return secrets;
}

/** What the documented commands would create, with `valueOf` standing in for `openssl rand`. */
export function toOperatorSecretObjects(secrets: OperatorSecrets, valueOf: (secret: string, key: string) => string): KubeObject[] {
  return [...secrets].map(([name, keys]) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE },
    data: Object.fromEntries(keys.map((key) => [key, Buffer.from(valueOf(name, key)).toString('base64')])),
  }));
}

/** A shipped Secret that the operator is told to create would overwrite theirs on every apply. */
export function checkNotShipped(objects: readonly KubeObject[], secrets: OperatorSecrets): string[] {
  return objects
    .filter((object) => object.kind === 'Secret' && secrets.has(object.metadata.name))
    .map((object) => `${nameOf(object)} is rendered, but the operator creates it (${DEPLOY_DOC}): remove it from the manifests`);
}

/** Lines of the shipped files that hold a placeholder value. YAML/env/conf comments are skipped. */
export function findPlaceholderLines(files: readonly { path: string; text: string }[]): string[] {
  const found: string[] = [];
  for (const { path, text } of files) {
    text.split('\n').forEach((line, index) => {
      const content = line.replace(/(^|\s)#.*$/, '');
      if (isPlaceholderSecret(content)) found.push(`${path}:${index + 1} holds a placeholder secret`);
    });
  }
  return found;
}

/** Rendered Secrets (data or stringData) whose values are placeholders. Values are not shown. */
export function findPlaceholderSecretValues(objects: readonly KubeObject[]): string[] {
  const found: string[] = [];
  for (const object of objects.filter((candidate) => candidate.kind === 'Secret')) {
    const { data = {}, stringData = {} } = object as KubeObject & { stringData?: Record<string, string> };
    const values = [
      ...Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')] as const),
      ...Object.entries(stringData),
    ];
    for (const [key, value] of values) {
      if (value.split('\n').some(isPlaceholderSecret)) found.push(`${nameOf(object)} key ${key} holds a placeholder`);
    }
  }
  return found;
}
