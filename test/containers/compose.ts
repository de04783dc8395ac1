// docker-compose.yml under a project of the test's own, with docker-compose 1.29 (the global
// setup installs it): bringing services up, waiting for their healthchecks, and listing what the
// project leaves behind.
import { run } from './docker-host';

export type ContainerState = { id: string; status: string; health: string; exitCode: number };

export type ProjectResources = { containers: string[]; networks: string[]; volumes: string[] };

export type Compose = {
  /** `docker-compose -p <project> <args>`, with the environment given at creation. */
  run(args: readonly string[]): Promise<string>;
  state(service: string): Promise<ContainerState | undefined>;
  /**
   * Waits until every service is up (healthy, where it has a healthcheck) or, for a one-shot
   * service, exited 0. A service that exits non-zero or turns unhealthy fails at once, with the
   * end of its log.
   */
  waitReady(services: readonly string[], oneShot: readonly string[], timeoutMs: number): Promise<void>;
  /** Containers, networks and volumes that carry the project's label. */
  resources(): Promise<ProjectResources>;
};

function lines(text: string): string[] {
  return text.split('\n').map((line) => line.trim()).filter(Boolean);
}

export function createCompose(project: string, env: Readonly<Record<string, string>>): Compose {
  const composeEnv = { ...process.env, ...env };
  const label = `label=com.docker.compose.project=${project}`;

  const compose: Compose = {
    run: (args) => run('docker-compose', ['-p', project, '-f', 'docker-compose.yml', ...args], { env: composeEnv }),

    async state(service) {
      const id = (await compose.run(['ps', '-q', service])).trim();
      if (!id) return undefined;
      const format = '{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.State.ExitCode}}';
      const [status = '', health = '', exitCode = ''] = (await run('docker', ['inspect', '-f', format, id])).trim().split('|');
      return { id, status, health, exitCode: Number(exitCode) };
    },

    async waitReady(services, oneShot, timeoutMs) {
      const ready = async (service: string): Promise<boolean> => {
        const state = await compose.state(service);
        if (!state) return false;
        const broken = (state.status === 'exited' && state.exitCode !== 0) || state.health === 'unhealthy';
        if (broken) {
          const logs = await compose.run(['logs', '--no-color', '--tail', '30', service]).catch((error: Error) => error.message);
          throw new Error(`${service} is ${state.status} (exit ${state.exitCode}, health "${state.health}"):\n${logs}`);
        }
        if (oneShot.includes(service)) return state.status === 'exited';
        return state.status === 'running' && (state.health === '' || state.health === 'healthy');
      };
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const waiting = (await Promise.all(services.map(async (service) => ((await ready(service)) ? [] : [service])))).flat();
        if (waiting.length === 0) return;
        if (Date.now() > deadline) throw new Error(`${project}: not ready after ${timeoutMs} ms: ${waiting.join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    },

    async resources() {
      const [containers, networks, volumes] = await Promise.all([
        run('docker', ['ps', '-a', '-q', '--filter', label]),
        run('docker', ['network', 'ls', '-q', '--filter', label]),
        run('docker', ['volume', 'ls', '-q', '--filter', label]),
      ]);
      return { containers: lines(containers), networks: lines(networks), volumes: lines(volumes) };
    },
  };
  return compose;
}
