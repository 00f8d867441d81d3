// The Content-Security-Policy and HSTS of every answer. Both depend on how the request came:
// `upgrade-insecure-requests` and HSTS make a browser use https:// for everything after, which
// over plain HTTP (a LAN install opened as http://my-server:8080/) leaves the dashboard a blank
// page. So they are sent only when the request came over TLS: to this process directly, or to a
// proxy that says so in X-Forwarded-Proto and is trusted (RIZLER_TRUST_PROXY). The same goes
// for Cross-Origin-Opener-Policy, which a browser ignores, with a console error, over plain HTTP.
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface PolicyContext {
  /** The request came over TLS (directly, or per a trusted proxy). */
  secure: boolean;
}

/** HSTS for a year; no `preload`, which is a promise about every subdomain that is not ours. */
const HSTS = 'max-age=31536000; includeSubDomains';

/** The dashboard's policy: nothing inline, nothing from elsewhere. */
export function contentSecurityPolicy(context: PolicyContext): string {
  const directives: [string, ...string[]][] = [
    ['default-src', "'self'"],
    ['script-src', "'self'"],
    ['style-src', "'self'"],
    ['img-src', "'self'", 'data:'],
    ['connect-src', "'self'"],
    ['font-src', "'self'"],
    ['object-src', "'none'"],
    ['frame-ancestors', "'none'"],
    ['base-uri', "'none'"],
    ['form-action', "'self'"],
    ['script-src-attr', "'none'"],
  ];
  if (context.secure) directives.push(['upgrade-insecure-requests']);
  return directives.map((d) => d.join(' ')).join('; ');
}

/** Fastify's `protocol` reads the socket, or X-Forwarded-Proto when trustProxy allows it. */
export function cameOverTls(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

/** Sets the headers on every answer (onRequest, so a hijacked stream keeps them too). */
export function addSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    const secure = cameOverTls(request);
    reply.header('content-security-policy', contentSecurityPolicy({ secure }));
    if (!secure) return;
    reply.header('strict-transport-security', HSTS);
    // Over plain HTTP on a host name Chromium ignores this header with a console error.
    reply.header('cross-origin-opener-policy', 'same-origin');
  });
}

/** Swagger UI's own policy for /docs asks for the upgrade unconditionally: drop that part. */
export function withoutUpgrade(policy: string): string {
  return policy
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d !== '' && d !== 'upgrade-insecure-requests')
    .join('; ');
}
