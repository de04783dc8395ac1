// What `npm start` says once the stack is up: where the gateway answers, who can reach the
// listeners, and whether callers need an API key. Said here, in the last lines a developer reads,
// rather than only in one warning among sixteen processes' logs. Pure: start.ts prints the lines.
import { isAnyAddress } from './local-stack';

export type BannerInput = Readonly<{
  /** Address the processes listen on (HOST). */
  host: string;
  /** Where a client on this machine reaches the gateway, e.g. localhost:50051. */
  gatewayAddress: string;
  /** True when the gateway is not on its default port: the demo needs --address. */
  customAddress: boolean;
  /** The environment the gateway runs with. */
  gatewayEnv: Readonly<Record<string, string | undefined>>;
  /** Where a browser on this machine opens the web dashboard, e.g. http://localhost:8090/. */
  dashboardUrl?: string;
}>;

/** The gateway turns authentication on when either variable holds something (gateway/config.ts). */
export function isAuthConfigured(env: Readonly<Record<string, string | undefined>>): boolean {
  return Boolean(env.TM_API_KEYS?.trim() || env.TM_API_KEYS_FILE?.trim());
}

/** Loopback: only this machine reaches it. */
export function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === 'localhost';
}

export type BannerLine = Readonly<{ text: string; /** Worth colouring on a terminal. */ alert: boolean }>;

export function toBanner(input: BannerInput): BannerLine[] {
  const demo = `npx tm demo${input.customAddress ? ` --address ${input.gatewayAddress}` : ''}`;
  const local = isLoopback(input.host);
  const auth = isAuthConfigured(input.gatewayEnv);
  const lines: BannerLine[] = [{ text: `Taskmanager is up: gRPC on ${input.gatewayAddress}. Try: ${demo}`, alert: false }];
  if (input.dashboardUrl) {
    lines.push({
      text: `Dashboard: ${input.dashboardUrl} (in a browser; it calls the gateway with the key you type in${auth ? '' : ', none needed while authentication is off'}).`,
      alert: false,
    });
  }
  const unguarded = 'the functions take events and serve /results/:id without authentication';
  lines.push({
    text: local
      ? `Listeners: on ${input.host} only, this machine (HOST=0.0.0.0 would open them to the network).`
      : isAnyAddress(input.host)
        ? `Listeners: on every interface (HOST=${input.host}), reachable from the network; ${unguarded}.`
        : `Listeners: on ${input.host} (HOST), reachable through that address; ${unguarded}.`,
    alert: !local,
  });
  lines.push(
    auth
      ? { text: 'Authentication: ON (TM_API_KEYS / TM_API_KEYS_FILE): calls need "authorization: Bearer <key>"; tm reads TM_TOKEN.', alert: false }
      : {
          text:
            'Authentication: OFF: any caller may submit, read and cancel every task. To turn it on, start with ' +
            'TM_API_KEYS=<tenant>:<key of 16+ characters> (or TM_API_KEYS_FILE=<file>) and call with TM_TOKEN=<key>.',
          alert: true,
        },
  );
  if (!local && !auth) lines.push({ text: 'WARNING: reachable from the network with authentication OFF.', alert: true });
  return lines;
}
