// The undici dispatcher every delivery is sent through. Its connector is the one place where
// the address guard meets the network: for each new connection it resolves the name once,
// judges every address it got, and connects to one of those very addresses (never to the name
// again), so a DNS answer that changes between check and connect (rebinding) cannot reach a
// blocked address. Keep-alive connections are pooled per origin by the Agent as usual; only
// opening a connection goes through here.
import { lookup as dnsLookup } from 'node:dns/promises';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import {
  BlockedAddressError,
  blockedReason,
  hostToIpLiteral,
  type AddressPolicy,
} from '../core/address-guard.js';

export interface DispatcherOptions extends AddressPolicy {
  /** keep-alive pool size per origin */
  connectionsPerOrigin?: number;
  /** per address tried, and separately for the DNS lookup */
  connectTimeoutMs?: number;
  /** injectable resolver for tests; default: node:dns/promises lookup with all: true */
  lookup?: (hostname: string) => Promise<{ address: string; family: 4 | 6 }[]>;
}

// Only for a dispatcher made without the option (tests): the service always passes
// RIZLER_CONNECTIONS_PER_ORIGIN (config.ts, default 64).
const DEFAULT_CONNECTIONS_PER_ORIGIN = 32;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

// Errors after which the next resolved address is worth a try (an unreachable IPv6 route,
// a refused port on one of several A records). TLS and protocol errors are not: every
// address of a name serves the same certificate.
const TRY_NEXT_ADDRESS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

async function defaultLookup(hostname: string): Promise<{ address: string; family: 4 | 6 }[]> {
  const answers = await dnsLookup(hostname, { all: true });
  return answers.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
}

export function createDeliveryDispatcher(opts: DispatcherOptions): Dispatcher {
  const policy: AddressPolicy = {
    allowPrivateNetworks: opts.allowPrivateNetworks,
    allowedNetworks: [...opts.allowedNetworks],
  };
  const timeout = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const resolve = opts.lookup ?? defaultLookup;
  const connectTo = buildConnector({ timeout });

  const connect: buildConnector.connector = (options, callback) => {
    const { hostname } = options; // undici has already stripped IPv6 brackets
    if (policy.allowPrivateNetworks) {
      connectTo(options, callback);
      return;
    }

    const literal = hostToIpLiteral(hostname);
    if (literal !== null) {
      const reason = blockedReason(literal, policy);
      if (reason !== null) {
        callback(new BlockedAddressError(literal, reason), null);
        return;
      }
      connectTo({ ...options, hostname: literal }, callback);
      return;
    }

    resolveWithTimeout(resolve, hostname, timeout).then(
      (addresses) => {
        for (const address of addresses) {
          const reason = blockedReason(address, policy);
          // One blocked answer refuses the name: trying only its public siblings would let
          // an attacker who controls the zone keep probing internal addresses.
          if (reason !== null) {
            callback(new BlockedAddressError(address, reason, hostname), null);
            return;
          }
        }
        // The TLS name stays the original host (SNI and certificate check); only the TCP
        // destination is pinned to the address just judged.
        const servername = options.servername || hostname;
        connectInTurn(addresses, 0, undefined);

        function connectInTurn(list: string[], index: number, lastError: Error | undefined): void {
          const address = list[index];
          if (address === undefined) {
            callback(lastError ?? new Error(`could not connect to ${hostname}`), null);
            return;
          }
          connectTo({ ...options, hostname: address, servername }, (err, socket) => {
            if (err) {
              const code = (err as NodeJS.ErrnoException).code;
              if (index + 1 < list.length && code !== undefined && TRY_NEXT_ADDRESS.has(code)) {
                connectInTurn(list, index + 1, err);
              } else {
                callback(err, null);
              }
              return;
            }
            callback(null, socket);
          });
        }
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), null),
    );
  };

  return new Agent({
    connections: opts.connectionsPerOrigin ?? DEFAULT_CONNECTIONS_PER_ORIGIN,
    connect,
  });
}

/** Resolves to distinct IP literals in resolver order; fails on no answer or timeout. */
async function resolveWithTimeout(
  resolve: NonNullable<DispatcherOptions['lookup']>,
  hostname: string,
  timeoutMs: number,
): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(
        `DNS lookup of ${hostname} timed out after ${timeoutMs} ms`,
      ) as NodeJS.ErrnoException;
      err.code = 'ETIMEOUT';
      reject(err);
    }, timeoutMs);
  });
  try {
    const answers = await Promise.race([resolve(hostname), timedOut]);
    const addresses: string[] = [];
    for (const { address } of answers) {
      // An answer that is not an IP literal is kept as is, so blockedReason refuses it
      // ('unrecognised') rather than net.connect resolving it again.
      const literal = hostToIpLiteral(address) ?? address;
      if (!addresses.includes(literal)) addresses.push(literal);
    }
    if (addresses.length === 0) {
      const err = new Error(
        `DNS lookup of ${hostname} returned no addresses`,
      ) as NodeJS.ErrnoException;
      err.code = 'ENOTFOUND';
      throw err;
    }
    return addresses;
  } finally {
    clearTimeout(timer);
  }
}
