// Every test file fails when it leaves a socket, server, child process, worker thread or timer
// open: the setup file's afterAll runs after the file's own (hooks run as a stack).
import { afterAll, beforeAll, expect } from 'vitest';
import { describeHandles, openResources, settledLeaks, type Resources } from './leaks.js';

let baseline: Resources = new Map();
beforeAll(() => {
  baseline = openResources();
});

afterAll(async () => {
  const leaked = await settledLeaks(baseline);
  expect(
    leaked,
    `this test file left open: ${leaked.join(', ')}\nopen handles:\n  ${describeHandles().join('\n  ')}`,
  ).toEqual([]);
});
