// What `npm start` says once it is up: where it listens and whether callers need a key.
import { describe, expect, it } from 'vitest';
import { isAuthConfigured, toBanner, type BannerInput } from './start-banner';

const LOCAL: BannerInput = { host: '127.0.0.1', gatewayAddress: 'localhost:50051', customAddress: false, gatewayEnv: {} };
const texts = (input: BannerInput) => toBanner(input).map((line) => line.text);

describe('the npm start banner', () => {
  it('without API keys says that authentication is OFF, what that means and how to turn it on', () => {
    const lines = toBanner(LOCAL);
    expect(lines[0]).toEqual({ text: 'Taskmanager is up: gRPC on localhost:50051. Try: npx tm demo', alert: false });
    const auth = lines.find((line) => line.text.startsWith('Authentication:'));
    expect(auth?.alert).toBe(true);
    expect(auth?.text).toMatch(/^Authentication: OFF: any caller may submit, read and cancel every task\./);
    expect(auth?.text).toContain('TM_API_KEYS=<tenant>:<key of 16+ characters> (or TM_API_KEYS_FILE=<file>)');
    expect(auth?.text).toContain('TM_TOKEN=<key>');
  });

  it.each([
    ['TM_API_KEYS', { TM_API_KEYS: 'acme:0123456789abcdef' }],
    ['TM_API_KEYS_FILE', { TM_API_KEYS_FILE: '/run/secrets/keys' }],
  ])('with %s set says that authentication is on', (_, gatewayEnv) => {
    const auth = toBanner({ ...LOCAL, gatewayEnv }).find((line) => line.text.startsWith('Authentication:'));
    expect(auth).toEqual({ text: expect.stringMatching(/^Authentication: ON .*authorization: Bearer <key>.*TM_TOKEN/), alert: false });
  });

  it('counts blank key variables as unset, as the gateway does', () => {
    expect(isAuthConfigured({ TM_API_KEYS: '  ', TM_API_KEYS_FILE: '' })).toBe(false);
    expect(texts({ ...LOCAL, gatewayEnv: { TM_API_KEYS: ' ' } })).toContainEqual(expect.stringMatching(/^Authentication: OFF/));
  });

  it('says that the listeners are on 127.0.0.1 only, or on the loopback address HOST gives', () => {
    expect(texts(LOCAL)).toContain('Listeners: on 127.0.0.1 only, this machine (HOST=0.0.0.0 would open them to the network).');
    expect(texts({ ...LOCAL, host: '::1' })).toContainEqual(expect.stringMatching(/^Listeners: on ::1 only, this machine/));
    expect(toBanner(LOCAL).some((line) => line.text.startsWith('WARNING'))).toBe(false);
  });

  it('warns when HOST opens the listeners to the network, the more so without authentication', () => {
    const open = toBanner({ ...LOCAL, host: '0.0.0.0' });
    expect(open).toContainEqual({
      text: 'Listeners: on every interface (HOST=0.0.0.0), reachable from the network; the functions take events and serve /results/:id without authentication.',
      alert: true,
    });
    expect(open.at(-1)).toEqual({ text: 'WARNING: reachable from the network with authentication OFF.', alert: true });
    expect(texts({ ...LOCAL, host: '192.0.2.7' })).toContainEqual(expect.stringMatching(/^Listeners: on 192\.0\.2\.7 \(HOST\), reachable through that address/));
    expect(texts({ ...LOCAL, host: '0.0.0.0', gatewayEnv: { TM_API_KEYS: 'acme:0123456789abcdef' } }).at(-1)).toMatch(/^Authentication: ON/);
  });

  it('gives the demo the gateway address when it is not the client\'s default', () => {
    expect(texts({ ...LOCAL, gatewayAddress: 'localhost:51051', customAddress: true })[0]).toBe(
      'Taskmanager is up: gRPC on localhost:51051. Try: npx tm demo --address localhost:51051',
    );
  });

  it('says where the dashboard is, and whether it needs a key', () => {
    expect(texts({ ...LOCAL, dashboardUrl: 'http://localhost:8090/' })[1]).toBe(
      'Dashboard: http://localhost:8090/ (in a browser; it calls the gateway with the key you type in, none needed while authentication is off).',
    );
    expect(texts({ ...LOCAL, dashboardUrl: 'http://localhost:8090/', gatewayEnv: { TM_API_KEYS: 'acme:0123456789abcdef' } })[1]).toBe(
      'Dashboard: http://localhost:8090/ (in a browser; it calls the gateway with the key you type in).',
    );
    expect(texts(LOCAL).some((line) => line.startsWith('Dashboard:'))).toBe(false);
  });
});
