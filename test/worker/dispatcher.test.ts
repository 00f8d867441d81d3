// The delivery dispatcher against real receivers on loopback: every blocked spelling fails
// with BlockedAddressError and nothing reaches the receiver; the address judged is the address
// connected to (DNS rebinding); opened networks and keep-alive pooling still work.
//
// Safety net: every TCP/TLS connection any test opens goes through a spy on net.connect and
// tls.connect that only lets loopback through. Were the guard broken, a spelling of 10.0.0.1
// must fail here, not send a packet to someone's network.
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { request, type Dispatcher } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BlockedAddressError } from '../../src/core/address-guard.js';
import { createDeliveryDispatcher, type DispatcherOptions } from '../../src/worker/dispatcher.js';

// ---------------------------------------------------------------------------------------------
// fixtures

interface Receiver {
  port: number;
  /** connections accepted, on every address the receiver listens on */
  connections: number;
  /** the local address of each accepted connection */
  connectionsTo: string[];
  requests: { address: string; url: string; host: string | undefined }[];
}

const servers: (http.Server | tls.Server)[] = [];
const dispatchers: Dispatcher[] = [];
/** hosts that net.connect / tls.connect were asked for, in order */
let connectHosts: string[] = [];

const LOCAL = new Set(['127.0.0.1', '127.0.0.2', '127.0.0.3', '::1', 'localhost']);

function listen(server: http.Server | tls.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function close(server: http.Server | tls.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  if (server instanceof http.Server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * A receiver listening on the same port on every host given (127.0.0.1 and ::1 by default),
 * recording connections and requests and answering 200 (or what `handler` says).
 */
async function startReceiver(
  hosts: readonly string[] = ['127.0.0.1', '::1'],
  handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<Receiver> {
  for (let tries = 0; tries < 20; tries++) {
    const receiver: Receiver = { port: 0, connections: 0, connectionsTo: [], requests: [] };
    const started: http.Server[] = [];
    try {
      for (const host of hosts) {
        const server = http.createServer((req, res) => {
          receiver.requests.push({
            address: req.socket.localAddress ?? '',
            url: req.url ?? '',
            host: req.headers.host,
          });
          if (handler) handler(req, res);
          else res.end('ok');
        });
        server.on('connection', (socket: net.Socket) => {
          receiver.connections++;
          receiver.connectionsTo.push(socket.localAddress ?? '');
        });
        started.push(server);
        servers.push(server);
        await listen(server, receiver.port, host);
        const address = server.address() as net.AddressInfo;
        receiver.port = address.port;
      }
      return receiver;
    } catch (err) {
      // the port taken on 127.0.0.1 was busy on another address: start over on a new one
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      await Promise.all(started.map(close));
    }
  }
  throw new Error('no free port on every receiver address');
}

function dispatcher(opts: Partial<DispatcherOptions> = {}): Dispatcher {
  const d = createDeliveryDispatcher({
    allowPrivateNetworks: false,
    allowedNetworks: [],
    connectTimeoutMs: 2000,
    ...opts,
  });
  dispatchers.push(d);
  return d;
}

/** A resolver from a table; unknown names fail like DNS does. Counts its calls per name. */
function resolver(table: Record<string, string | string[]>) {
  const calls: Record<string, number> = {};
  const lookup = async (hostname: string): Promise<{ address: string; family: 4 | 6 }[]> => {
    calls[hostname] = (calls[hostname] ?? 0) + 1;
    const answer = table[hostname];
    if (answer === undefined) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    }
    return (Array.isArray(answer) ? answer : [answer]).map((address) => ({
      address,
      family: address.includes(':') ? 6 : 4,
    }));
  };
  return { lookup, calls };
}

async function send(
  url: string,
  d: Dispatcher,
  opts: { reset?: boolean } = {},
): Promise<{ status: number; body: string }> {
  const res = await request(url, { dispatcher: d, method: 'POST', body: '{}', reset: opts.reset });
  return { status: res.statusCode, body: await res.body.text() };
}

async function blocked(url: string, d: Dispatcher): Promise<BlockedAddressError> {
  const err = await send(url, d).then(
    () => {
      throw new Error(`${url} was delivered`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BlockedAddressError);
  return err as BlockedAddressError;
}

/** A socket that fails as a refused connection would, without touching the network. */
function refusedSocket(host: string): net.Socket {
  const socket = new net.Socket();
  process.nextTick(() =>
    socket.destroy(
      Object.assign(new Error(`test safety net: refused to connect to ${host}`), {
        code: 'ECONNREFUSED',
      }),
    ),
  );
  return socket;
}

beforeEach(() => {
  connectHosts = [];
  const realNet = net.connect.bind(net) as (...args: unknown[]) => net.Socket;
  const realTls = tls.connect.bind(tls) as (...args: unknown[]) => tls.TLSSocket;
  const guard =
    <T extends net.Socket>(real: (...args: unknown[]) => T) =>
    (...args: unknown[]): T => {
      const first = args[0];
      const host =
        typeof first === 'object' && first !== null
          ? String((first as { host?: unknown }).host)
          : String(args[1]);
      connectHosts.push(host);
      return LOCAL.has(host) ? real(...args) : (refusedSocket(host) as T);
    };
  vi.spyOn(net, 'connect').mockImplementation(guard(realNet) as typeof net.connect);
  vi.spyOn(tls, 'connect').mockImplementation(guard(realTls) as typeof tls.connect);
});

afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.destroy()));
  await Promise.all(servers.splice(0).map(close));
  vi.restoreAllMocks();
  // A test that leaves a socket open is a defect. libuv releases a closed handle a little
  // after the close callback, so wait (briefly) for every TCP socket and server to be gone.
  await vi.waitFor(
    () => expect(process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'))).toEqual([]),
    { timeout: 2000, interval: 10 },
  );
});

// ---------------------------------------------------------------------------------------------
// blocked spellings

// host as typed in a URL → reason. Each is sent to the receiver's port: loopback spellings
// would land on the receiver if the guard let them through; the others on the safety net.
const BLOCKED: readonly [string, string][] = [
  ['0', 'unspecified'],
  ['0.0.0.0', 'unspecified'],
  ['[::]', 'unspecified'],
  ['127.1', 'loopback'],
  ['127.0.0.1', 'loopback'],
  ['127.0.0.1.', 'loopback'],
  ['0177.0.0.1', 'loopback'],
  ['0x7f.0.0.1', 'loopback'],
  ['0x7f.1', 'loopback'],
  ['0x7f000001', 'loopback'],
  ['2130706433', 'loopback'],
  ['017700000001', 'loopback'],
  ['%31%32%37.0.0.1', 'loopback'],
  ['127.0.0.2', 'loopback'],
  ['[::1]', 'loopback'],
  ['[0:0:0:0:0:0:0:1]', 'loopback'],
  ['[::ffff:7f00:1]', 'IPv4-mapped loopback'],
  ['[::ffff:127.0.0.1]', 'IPv4-mapped loopback'],
  ['[::ffff:0:127.0.0.1]', 'IPv4-translated loopback'],
  ['[::7f00:1]', 'IPv4-compatible loopback'],
  ['[::127.0.0.1]', 'IPv4-compatible loopback'],
  ['[64:ff9b::7f00:1]', 'NAT64 loopback'],
  ['[64:ff9b::127.0.0.1]', 'NAT64 loopback'],
  ['[2002:7f00:1::]', '6to4 loopback'],
  ['[2001:0:4136:e378:8000:63bf:80ff:fffe]', 'Teredo loopback'],
  ['10.0.0.1', 'private (RFC 1918)'],
  ['172.16.0.1', 'private (RFC 1918)'],
  ['192.168.1.1', 'private (RFC 1918)'],
  ['0xc0a80101', 'private (RFC 1918)'],
  ['100.64.0.1', 'CGNAT (100.64.0.0/10)'],
  ['169.254.169.254', 'cloud metadata'],
  ['0xa9fea9fe', 'cloud metadata'],
  ['[::ffff:169.254.169.254]', 'IPv4-mapped cloud metadata'],
  ['[fd00:ec2::254]', 'cloud metadata'],
  ['100.100.100.200', 'cloud metadata'],
  ['192.0.0.192', 'cloud metadata'],
  ['169.254.1.1', 'link-local'],
  ['[fe80::1]', 'link-local'],
  ['[fc00::1]', 'private (unique local, fc00::/7)'],
  ['224.0.0.1', 'multicast'],
  ['[ff02::1]', 'multicast'],
  ['255.255.255.255', 'broadcast'],
  ['240.0.0.1', 'reserved (240.0.0.0/4)'],
  ['192.0.2.1', 'reserved (documentation)'],
  ['user@127.0.0.1', 'loopback'],
  ['user:pw@[::1]', 'loopback'],
];

describe('blocked literal spellings', () => {
  it.each(BLOCKED)(
    'http://%s:<port>/ fails as %s and nothing arrives',
    async (spelling, reason) => {
      const receiver = await startReceiver();
      const d = dispatcher();
      const err = await blocked(`http://${spelling}:${receiver.port}/hook`, d);
      expect(err.code).toBe('blocked_address');
      expect(err.reason).toBe(reason);
      expect(err.message).toMatch(
        new RegExp(`^blocked: \\S+ is an? ${reason.replace(/[()/.]/g, '\\$&')} address;`),
      );
      expect(receiver.connections).toBe(0);
      expect(receiver.requests).toEqual([]);
      expect(connectHosts).toEqual([]);
    },
  );

  it('refuses https:// the same way, before any TLS handshake', async () => {
    const receiver = await startReceiver();
    const err = await blocked(`https://127.0.0.1:${receiver.port}/`, dispatcher());
    expect(err.reason).toBe('loopback');
    expect(receiver.connections).toBe(0);
    expect(connectHosts).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// names

describe('names are judged on what they resolve to, at send time', () => {
  const { lookup } = resolver({
    'loopback.test': '127.0.0.1',
    '127.0.0.1.nip.io': '127.0.0.1',
    'v6.test': '::1',
    'mapped.test': '::ffff:127.0.0.1',
    'metadata.test': '169.254.169.254',
    'private.test': '10.0.0.1',
    'odd-answer.test': '0x7f.1',
    // a public address first: every answer is judged before any is tried
    'mixed.test': ['93.184.216.34', '127.0.0.1'],
    'mixed6.test': ['2606:4700::1', '::1'],
  });
  const cases: [string, string, string][] = [
    ['loopback.test', '127.0.0.1', 'loopback'],
    ['127.0.0.1.nip.io', '127.0.0.1', 'loopback'],
    ['v6.test', '::1', 'loopback'],
    ['mapped.test', '::ffff:7f00:1', 'IPv4-mapped loopback'],
    ['metadata.test', '169.254.169.254', 'cloud metadata'],
    ['private.test', '10.0.0.1', 'private (RFC 1918)'],
    ['odd-answer.test', '127.0.0.1', 'loopback'],
    ['mixed.test', '127.0.0.1', 'loopback'],
    ['mixed6.test', '::1', 'loopback'],
  ];

  it.each(cases)('%s → %s is blocked as %s', async (name, address, reason) => {
    const receiver = await startReceiver();
    const err = await blocked(`http://${name}:${receiver.port}/`, dispatcher({ lookup }));
    expect(err).toMatchObject({ code: 'blocked_address', address, reason, hostname: name });
    // The message reaches the API: it says why, never what the name resolved to.
    expect(err.message).toMatch(/^blocked: private address; /);
    expect(err.message).not.toContain(address);
    expect(receiver.connections).toBe(0);
    expect(connectHosts).toEqual([]);
  });

  it('blocks localhost through the system resolver', async () => {
    const receiver = await startReceiver();
    const err = await blocked(`http://localhost:${receiver.port}/`, dispatcher());
    expect(err.reason).toBe('loopback');
    expect(err.hostname).toBe('localhost');
    expect(receiver.connections).toBe(0);
    expect(connectHosts).toEqual([]);
  });

  it('passes DNS failures through as they are', async () => {
    const err = await send('http://nowhere.test:9/', dispatcher({ lookup })).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ENOTFOUND' });
    expect(connectHosts).toEqual([]);
  });

  it('gives up on a resolver that does not answer within the connect timeout', async () => {
    const hang = (): Promise<never> => new Promise(() => undefined);
    const started = Date.now();
    const err = await send(
      'http://slow.test:9/',
      dispatcher({ lookup: hang, connectTimeoutMs: 200 }),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ETIMEOUT',
      message: 'DNS lookup of slow.test timed out after 200 ms',
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

// ---------------------------------------------------------------------------------------------
// DNS rebinding

describe('DNS rebinding: the address judged is the address connected to', () => {
  it('a name that answers public, then loopback, never reaches loopback', async () => {
    const receiver = await startReceiver();
    const answers = ['93.184.216.34', '127.0.0.1'];
    let calls = 0;
    const lookup = async (): Promise<{ address: string; family: 4 | 6 }[]> => {
      const address = answers[Math.min(calls++, answers.length - 1)] as string;
      return [{ address, family: 4 }];
    };
    const d = dispatcher({ lookup });

    // First connection: judged public and sent to exactly that address (the safety net
    // refuses it, so nothing leaves the machine). A guard that resolved once to check and
    // again to connect would have used the second answer here and reached the receiver.
    const first = await send(`http://rebind.test:${receiver.port}/`, d).catch((e: unknown) => e);
    expect(first).toMatchObject({ code: 'ECONNREFUSED' });
    expect(calls).toBe(1);
    expect(connectHosts).toEqual(['93.184.216.34']);

    // Next connection: the name now answers loopback, judged and refused.
    const second = await blocked(`http://rebind.test:${receiver.port}/`, d);
    expect(second).toMatchObject({
      address: '127.0.0.1',
      hostname: 'rebind.test',
      reason: 'loopback',
    });
    expect(calls).toBe(2);
    expect(connectHosts).toEqual(['93.184.216.34']);
    expect(receiver.connections).toBe(0);
  });

  it('each new connection is judged again, after a delivery that succeeded', async () => {
    // 127.0.0.2 stands in for a public host (opened on its own); 127.0.0.1 stays blocked.
    // One receiver listens on both, on one port, and tells them apart by local address.
    const receiver = await startReceiver(['127.0.0.2', '127.0.0.1']);
    let calls = 0;
    const lookup = async (): Promise<{ address: string; family: 4 | 6 }[]> => [
      { address: calls++ % 2 === 0 ? '127.0.0.2' : '127.0.0.1', family: 4 },
    ];
    const d = dispatcher({ lookup, allowedNetworks: ['127.0.0.2/32'] });

    // reset: true closes the connection after the answer, so the next request needs a new one
    expect(await send(`http://rebind.test:${receiver.port}/a`, d, { reset: true })).toEqual({
      status: 200,
      body: 'ok',
    });
    const err = await blocked(`http://rebind.test:${receiver.port}/b`, d);
    expect(err).toMatchObject({ address: '127.0.0.1', reason: 'loopback' });

    expect(calls).toBe(2); // once per connection, never twice for one
    expect(receiver.requests).toEqual([
      { address: '127.0.0.2', url: '/a', host: `rebind.test:${receiver.port}` },
    ]);
    expect(receiver.connectionsTo).toEqual(['127.0.0.2']);
  });
});

// ---------------------------------------------------------------------------------------------
// opening private networks

describe('opened networks', () => {
  it('allowPrivateNetworks=true reaches the loopback receiver, by literal and by name', async () => {
    const receiver = await startReceiver();
    const d = dispatcher({ allowPrivateNetworks: true });
    expect(await send(`http://127.0.0.1:${receiver.port}/a`, d)).toEqual({
      status: 200,
      body: 'ok',
    });
    expect(await send(`http://[::1]:${receiver.port}/b`, d)).toEqual({ status: 200, body: 'ok' });
    expect(await send(`http://localhost:${receiver.port}/c`, d)).toEqual({
      status: 200,
      body: 'ok',
    });
    expect(receiver.requests.map((r) => [r.url, r.address])).toEqual([
      ['/a', '127.0.0.1'],
      ['/b', '::1'],
      ['/c', '127.0.0.1'],
    ]);
  });

  it("allowedNetworks=['127.0.0.0/8'] opens loopback while 10/8 and ::1 stay blocked", async () => {
    const receiver = await startReceiver();
    const { lookup } = resolver({
      'app.test': '127.0.0.1',
      'mapped.test': '::ffff:127.0.0.1',
      'private.test': '10.0.0.1',
    });
    const d = dispatcher({ allowedNetworks: ['127.0.0.0/8'], lookup });

    expect(await send(`http://127.0.0.1:${receiver.port}/literal`, d)).toEqual({
      status: 200,
      body: 'ok',
    });
    expect(await send(`http://0x7f.1:${receiver.port}/hex`, d)).toEqual({
      status: 200,
      body: 'ok',
    });
    expect(await send(`http://app.test:${receiver.port}/name`, d)).toEqual({
      status: 200,
      body: 'ok',
    });
    expect((await blocked(`http://10.0.0.1:${receiver.port}/`, d)).reason).toBe(
      'private (RFC 1918)',
    );
    expect((await blocked(`http://private.test:${receiver.port}/`, d)).reason).toBe(
      'private (RFC 1918)',
    );
    expect((await blocked(`http://[::1]:${receiver.port}/`, d)).reason).toBe('loopback');
    expect((await blocked(`http://169.254.169.254:${receiver.port}/`, d)).reason).toBe(
      'cloud metadata',
    );

    expect(receiver.requests.map((r) => [r.url, r.host])).toEqual([
      ['/literal', `127.0.0.1:${receiver.port}`],
      ['/hex', `127.0.0.1:${receiver.port}`],
      ['/name', `app.test:${receiver.port}`],
    ]);
    expect(connectHosts.every((host) => host === '127.0.0.1')).toBe(true);
  });

  it('tries the next checked address when one refuses the connection', async () => {
    const receiver = await startReceiver(['127.0.0.1']);
    // nothing listens on 127.0.0.3:<port>, so the first address is refused
    const { lookup, calls } = resolver({ 'two.test': ['127.0.0.3', '127.0.0.1'] });
    const d = dispatcher({ allowedNetworks: ['127.0.0.0/8'], lookup });
    expect(await send(`http://two.test:${receiver.port}/`, d)).toEqual({ status: 200, body: 'ok' });
    expect(connectHosts).toEqual(['127.0.0.3', '127.0.0.1']);
    expect(calls['two.test']).toBe(1);
  });

  it('keeps the original name for TLS (SNI) while connecting to the checked address', async () => {
    const seen: string[] = [];
    const server = tls.createServer({
      SNICallback: (servername, cb) => {
        seen.push(servername);
        cb(new Error('test server has no certificate'), null as unknown as tls.SecureContext);
      },
    });
    server.on('tlsClientError', () => undefined);
    servers.push(server);
    await listen(server, 0, '127.0.0.1');
    const { port } = server.address() as net.AddressInfo;
    const { lookup } = resolver({ 'secure.test': '127.0.0.1' });
    const d = dispatcher({ allowedNetworks: ['127.0.0.0/8'], lookup });

    const err = await send(`https://secure.test:${port}/`, d).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error); // the handshake fails: no certificate, as intended
    expect(err).not.toBeInstanceOf(BlockedAddressError);
    expect(seen).toEqual(['secure.test']);
    expect(connectHosts).toEqual(['127.0.0.1']);
  });
});

// ---------------------------------------------------------------------------------------------
// pooling

describe('keep-alive pooling per origin', () => {
  it('reuses connections for sequential deliveries and resolves the name once per connection', async () => {
    const receiver = await startReceiver(['127.0.0.1']);
    const { lookup, calls } = resolver({ 'pool.test': '127.0.0.1' });
    const d = dispatcher({ allowedNetworks: ['127.0.0.0/8'], lookup });
    for (let i = 0; i < 20; i++) {
      expect(await send(`http://pool.test:${receiver.port}/${i}`, d)).toEqual({
        status: 200,
        body: 'ok',
      });
    }
    expect(receiver.requests).toHaveLength(20);
    // undici's Pool opens a second client while the first is still settling its previous
    // response (a plain Agent does the same: 2 connections for 5, 20 or 50 sequential
    // requests), then reuses both; what matters is that 20 deliveries did not open 20.
    expect(receiver.connections).toBeGreaterThanOrEqual(1);
    expect(receiver.connections).toBeLessThanOrEqual(2);
    expect(calls['pool.test']).toBe(receiver.connections);
    expect(connectHosts).toHaveLength(receiver.connections);
  });

  it('opens at most connectionsPerOrigin connections under concurrent load', async () => {
    const pending: http.ServerResponse[] = [];
    let releaseAll = (): void => undefined;
    const allArrived = new Promise<void>((resolve) => {
      releaseAll = resolve;
    });
    const receiver = await startReceiver(['127.0.0.1'], (_req, res) => {
      pending.push(res);
      if (pending.length === 3) releaseAll();
    });
    const d = dispatcher({ allowedNetworks: ['127.0.0.0/8'], connectionsPerOrigin: 3 });

    const sends = Array.from({ length: 9 }, (_, i) =>
      send(`http://127.0.0.1:${receiver.port}/${i}`, d),
    );
    await allArrived;
    // three in flight, one per connection; answering them lets the rest through in turn
    expect(receiver.connections).toBe(3);
    const drain = setInterval(() => pending.splice(0).forEach((res) => res.end('ok')), 5);
    try {
      const results = await Promise.all(sends);
      expect(results.every((r) => r.status === 200)).toBe(true);
    } finally {
      clearInterval(drain);
    }
    expect(receiver.requests).toHaveLength(9);
    expect(receiver.connections).toBe(3);
  });
});
