// The Content-Security-Policy and HSTS of every answer. Both depend on how the request came:
// `upgrade-insecure-requests` and HSTS make a browser use https:// for everything after, which
// over plain HTTP (a LAN install opened as http://my-server:8080/) leaves the dashboard a blank
// page. So they are sent only when the request came over TLS: to this process directly, or to a
// proxy that says so in X-Forwarded-Proto and is trusted (RIZLER_TRUST_PROXY). The same goes
// for Cross-Origin-Opener-Policy, which a browser ignores, with a console error, over plain HTTP.
//
// Framing is decided here too, in one place: CSP `frame-ancestors` names the origins of
// RIZLER_EMBED_ORIGINS (SPEC §9), or 'none'; X-Frame-Options (for browsers without
// frame-ancestors) says DENY when nobody may frame the dashboard, and is left out when some
// may, since it cannot name another origin.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';

export interface PolicyContext {
  /** The request came over TLS (directly, or per a trusted proxy). */
  secure: boolean;
  /** Origins that may show the dashboard in a frame; none: 'none'. */
  embedOrigins?: readonly string[];
  /** Origins images may come from besides this one (the operator's logo). */
  imageOrigins?: readonly string[];
}

/** HSTS for a year; no `preload`, which is a promise about every subdomain that is not ours. */
const HSTS = 'max-age=31536000; includeSubDomains';

/** The dashboard's policy: nothing inline, nothing from elsewhere but the operator's logo. */
export function contentSecurityPolicy(context: PolicyContext): string {
  const { embedOrigins = [], imageOrigins = [] } = context;
  const directives: [string, ...string[]][] = [
    ['default-src', "'self'"],
    ['script-src', "'self'"],
    ['style-src', "'self'"],
    ['img-src', "'self'", 'data:', ...imageOrigins],
    ['connect-src', "'self'"],
    ['font-src', "'self'"],
    ['object-src', "'none'"],
    embedOrigins.length > 0 ? ['frame-ancestors', ...embedOrigins] : ['frame-ancestors', "'none'"],
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
export function addSecurityHeaders(
  app: FastifyInstance,
  config: Pick<Config, 'embedOrigins' | 'branding'>,
): void {
  const { logoUrl } = config.branding;
  const framing = {
    embedOrigins: config.embedOrigins,
    imageOrigins: logoUrl === null ? [] : [new URL(logoUrl).origin],
  };
  const policies = {
    plain: contentSecurityPolicy({ secure: false, ...framing }),
    tls: contentSecurityPolicy({ secure: true, ...framing }),
  };
  const frameOptions = config.embedOrigins.length === 0 ? 'DENY' : null;
  app.addHook('onRequest', async (request, reply) => {
    const secure = cameOverTls(request);
    reply.header('content-security-policy', secure ? policies.tls : policies.plain);
    if (frameOptions !== null) reply.header('x-frame-options', frameOptions);
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
