// The leak check every test file runs afterwards (./no-leaks.ts) sees what a test leaves open.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { describeHandles, leakedSince, openResources, settledLeaks } from './leaks.js';

describe('the leak check', () => {
  it('reports a listening server, a connected socket and an interval until they are closed', async () => {
    const baseline = openResources();
    const server = createServer((socket) => socket.on('data', () => {}));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const { connect } = await import('node:net');
    const client = connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    const interval = setInterval(() => {}, 60_000);

    const leaked = leakedSince(baseline).join(', ');
    expect(leaked).toMatch(/TCPServerWrap/);
    expect(leaked).toMatch(/TCPSocketWrap|TCPWrap/);
    expect(leaked).toMatch(/Timeout/);
    expect(describeHandles().join('\n')).toContain(`→ 127.0.0.1:${port}`);

    clearInterval(interval);
    client.destroy();
    server.close();
    expect(await settledLeaks(baseline)).toEqual([]);
  });

  it('reports a child process left running, and not an unref’d timer', async () => {
    const baseline = openResources();
    const quiet = setTimeout(() => {}, 60_000).unref();
    expect(leakedSince(baseline)).toEqual([]);
    clearTimeout(quiet);
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {
      stdio: 'ignore',
    });
    expect(leakedSince(baseline).join(', ')).toMatch(/ProcessWrap/);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(await settledLeaks(baseline)).toEqual([]);
  });
});
