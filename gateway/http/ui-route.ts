// Serves the built dashboard (dist/renderer) at /ui and /ui/ with a strict Content-Security-Policy.
// Usable directly (`await registerUi(app, { distDir })`) or as a plugin (`app.register(registerUi, …)`).
// The page reads the admin token from the URL fragment, which never reaches this server.
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { errors } from '../errors.js';
import { DASHBOARD_CSP } from './content-security-policy.js';

export const UI_CSP = DASHBOARD_CSP;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export interface UiOptions {
  /** Folder holding the built dashboard (index.html, assets/). */
  distDir: string;
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('Content-Security-Policy', UI_CSP)
    .header('X-Content-Type-Options', 'nosniff')
    .header('X-Frame-Options', 'DENY')
    .header('Referrer-Policy', 'no-referrer')
    .header('Cross-Origin-Opener-Policy', 'same-origin')
    .header('Cross-Origin-Resource-Policy', 'same-origin');
}

/** index.html refers to './assets/…'; served at /ui (no slash) those would resolve to /assets/…. */
export function rewriteIndex(html: string): string {
  return html.replace(/(\s(?:src|href)=["'])\.\//g, '$1/ui/');
}

/** The file the page's `<link rel="icon" href="./…">` names, relative to the page; null without one. */
export function linkedIcon(html: string): string | null {
  for (const tag of html.match(/<link\b[^>]*>/gi) ?? []) {
    if (!/\srel=["']?(?:shortcut\s+)?icon["'\s>]/i.test(tag)) continue;
    const href = /\shref=["']\.\/([^"'?#]+)["']/i.exec(tag);
    if (href) return href[1];
  }
  return null;
}

export async function registerUi(app: FastifyInstance, opts: UiOptions): Promise<void> {
  const distDir = path.resolve(opts.distDir);
  let rootReal: string | null = null;
  let indexCache: string | null = null;
  let rawIndex: string | null = null;

  async function root(): Promise<string> {
    if (rootReal === null) {
      try {
        rootReal = await realpath(distDir);
      } catch {
        throw errors.dashboardNotBuilt();
      }
    }
    return rootReal;
  }

  /** The built index.html as written (its asset URLs relative to dist/renderer). */
  async function builtIndex(): Promise<string> {
    if (rawIndex === null) {
      const dir = await root();
      try {
        rawIndex = await readFile(path.join(dir, 'index.html'), 'utf8');
      } catch {
        throw errors.dashboardNotBuilt();
      }
    }
    return rawIndex;
  }

  async function sendIndex(reply: FastifyReply): Promise<FastifyReply> {
    indexCache ??= rewriteIndex(await builtIndex());
    return securityHeaders(reply).header('Cache-Control', 'no-store').type(TYPES['.html']).send(indexCache);
  }

  async function sendFile(rel: string, reply: FastifyReply): Promise<FastifyReply> {
    const dir = await root();
    const notFound = () => errors.noDashboardFile();
    let decoded: string;
    try {
      decoded = decodeURIComponent(rel);
    } catch {
      throw notFound();
    }
    if (decoded.includes('\0') || decoded.includes('\\')) throw notFound();
    const target = path.resolve(dir, decoded);
    if (target !== dir && !target.startsWith(dir + path.sep)) throw notFound();
    let real: string;
    try {
      real = await realpath(target);
      if (!real.startsWith(dir + path.sep) || !(await stat(real)).isFile()) throw notFound();
    } catch {
      throw notFound();
    }
    const type = TYPES[path.extname(real).toLowerCase()] ?? 'application/octet-stream';
    const body = await readFile(real);
    const immutable = path.relative(dir, real).startsWith(`assets${path.sep}`);
    return securityHeaders(reply)
      .header('Cache-Control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .type(type)
      .send(body);
  }

  app.get('/ui', async (_req, reply) => sendIndex(reply));
  // Browsers ask for /favicon.ico on any page of this origin that names no icon (a JSON answer
  // opened in a tab, the Ollama port's "Ollama is running"): the dashboard's own icon, not a 404.
  app.get('/favicon.ico', async (_req, reply) => {
    const icon = linkedIcon(await builtIndex());
    if (icon === null) throw errors.noDashboardIcon();
    return sendFile(icon, reply);
  });
  app.get<{ Params: { '*': string } }>('/ui/*', async (req, reply) => {
    const rel = req.params['*'] ?? '';
    if (rel === '' || rel === 'index.html') return sendIndex(reply);
    return sendFile(rel, reply);
  });
}
