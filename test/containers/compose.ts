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
   * service, exited 0. At the deadline it fails naming each service still waiting, with its
   * state and the end of its log.
   */
  waitReady(services: readonly string[], oneShot: readonly string[], timeoutMs: number): Promise<void>;
  /** Containers, networks and volumes that carry the project's label. */
  resources(): Promise<ProjectResources>;
};

function lines(text: string): string[] {
  return text.split('\n').map((line) => line.trim()).filter(Boolean);
}

/**
 * docker-compose 1.29 gives each Engine API call 60 s by default. With the vfs storage driver,
 * removing twenty containers at once deletes a full copy of the image for each, and `down -v`
 * failed so ("Read timed out") on this machine; the suite's own deadlines bound the wait instead.
 */
const COMPOSE_HTTP_TIMEOUT_SECONDS = '600';

export function createCompose(project: string, env: Readonly<Record<string, string>>): Compose {
  const composeEnv = { ...process.env, COMPOSE_HTTP_TIMEOUT: COMPOSE_HTTP_TIMEOUT_SECONDS, ...env };
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
      const ready = (service: string, state: ContainerState | undefined): boolean => {
        if (!state) return false;
        if (oneShot.includes(service)) return state.status === 'exited' && state.exitCode === 0;
        return state.status === 'running' && (state.health === '' || state.health === 'healthy');
      };
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await Promise.all(services.map(async (service) => [service, await compose.state(service)] as const));
        const waiting = states.filter(([service, state]) => !ready(service, state));
        if (waiting.length === 0) return;
        // Not before the deadline: Docker restarts what exits (restart policies) and keeps
        // checking an unhealthy container, which turns healthy again at its next passing check.
        if (Date.now() > deadline) {
          const reports = await Promise.all(
            waiting.map(async ([service, state]) => {
              const logs = await compose.run(['logs', '--no-color', '--tail', '20', service]).catch((error: Error) => error.message);
              return `${service}: ${state ? `${state.status}, exit ${state.exitCode}, health "${state.health}"` : 'no container'}\n${logs}`;
            }),
          );
          throw new Error(`${project}: not ready after ${timeoutMs} ms:\n${reports.join('\n')}`);
        }
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
