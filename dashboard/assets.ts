// The page and its two bundled assets (dist/dashboard/: index.html, app.js, app.css), read once
// at start-up and served from memory, and the security headers every answer carries: a
// Content-Security-Policy that allows only this origin's script, style and connections (no
// inline script, no CDN, no framing), no MIME sniffing, no referrer.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { Router } from '../shared/runtime/http-router';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
}

export const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** Reads every asset (a missing one stops the start with its path) and adds its GET route. */
export function addAssetRoutes(router: Router, assetsDir: string): void {
  for (const [path, { file, type }] of Object.entries(ASSETS)) {
    let body: Buffer;
    try {
      body = readFileSync(join(assetsDir, file));
    } catch (error) {
      throw new Error(`dashboard asset ${join(assetsDir, file)} cannot be read (run \`npm run build\`): ${(error as Error).message}`, { cause: error });
    }
    router.get(path, (_req, res) => {
      res.status(200).type(type).set('cache-control', 'no-cache').send(body);
    });
  }
}
