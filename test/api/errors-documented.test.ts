// Every API error code is documented in README with its status (fastify's errors test).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_ERRORS } from '../../src/http/errors.js';
import { ROOT } from '../helpers/process.js';

describe('the error registry', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const [code, { status, message }] of Object.entries(API_ERRORS)) {
    it(`documents ${code}`, () => {
      expect(readme).toContain(`| ${status} | \`${code}\` |`);
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(message).toMatch(/^[A-Z].*\.$/);
    });
  }
});
