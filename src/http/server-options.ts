// How long a client may take, and how many may be connected: a body trickled one byte at a
// time, or headers that never end, must not hold a connection for ever.
import type { FastifyServerOptions } from 'fastify';
import type { Server } from 'node:http';
import type { Config } from '../config.js';

type Limits = Pick<
  Config,
  | 'headersTimeoutMs'
  | 'requestTimeoutMs'
  | 'keepAliveTimeoutMs'
  | 'idleTimeoutMs'
  | 'maxConnections'
  | 'trustProxy'
>;

/**
 * Node checks the header and request deadlines of open connections every
 * `connectionsCheckingInterval` (30 s by default), so a deadline is only as sharp as that
 * interval. A tenth of the shorter deadline, between 100 ms and 5 s: a walk over at most
 * RIZLER_MAX_CONNECTIONS sockets, a few times a second at most.
 */
function checkingInterval(deadlineMs: number): number {
  return Math.min(5_000, Math.max(100, Math.floor(deadlineMs / 10)));
}

export function serverOptions(config: Limits): FastifyServerOptions {
  const requestTimeout = config.requestTimeoutMs;
  // Node refuses a headers deadline later than the request deadline.
  const headersTimeout = Math.min(config.headersTimeoutMs, requestTimeout);
  return {
    requestTimeout,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    connectionTimeout: config.idleTimeoutMs,
    http: {
      headersTimeout,
      requestTimeout,
      connectionsCheckingInterval: checkingInterval(headersTimeout),
    },
    trustProxy: config.trustProxy,
  } as FastifyServerOptions;
}

/** Connections beyond the cap are closed by Node as soon as they are accepted. */
export function capConnections(server: Server, config: Limits): void {
  server.maxConnections = config.maxConnections;
}
