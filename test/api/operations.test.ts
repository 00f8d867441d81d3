// Every operation of the OpenAPI document is one SDK generators can name and group: a unique,
// stable operationId and a tag (both from the table in src/http/openapi.ts), a `security`
// (empty on public routes), and 503 on every route that reads the database. A new route fails
// here until it has its row in that table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../../src/http/openapi.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Operation {
  operationId?: string;
  tags?: string[];
  security?: unknown[];
  responses: Record<string, unknown>;
}

describe('the operations of the OpenAPI document', () => {
  let server: TestServer;
  let operations: [string, Operation][];
  let tags: string[];
  beforeAll(async () => {
    server = await startTestServer();
    const doc = (await (await fetch(server.url + '/openapi.json')).json()) as {
      paths: Record<string, Record<string, Operation>>;
      tags: { name: string }[];
    };
    tags = doc.tags.map((t) => t.name);
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(
        ([method, op]) => [`${method.toUpperCase()} ${path}`, op] as [string, Operation],
      ),
    );
  });
  afterAll(async () => server.close());

  it('each has an operationId from the table, and a declared tag', () => {
    expect(operations.length).toBeGreaterThanOrEqual(27);
    for (const [name, op] of operations) {
      const row = OPERATIONS[name.replace(/\{(\w+)\}/g, ':$1')];
      expect(row, `${name} has no row in OPERATIONS (src/http/openapi.ts)`).toBeDefined();
      expect(op.operationId, name).toBe(row!.operationId);
      expect(op.tags?.length, `${name} has no tag`).toBeGreaterThan(0);
      for (const tag of op.tags!)
        expect(tags, `${name}: tag ${tag} is not declared`).toContain(tag);
      expect(op.security, `${name} has no security`).toBeDefined();
    }
  });

  it('has unique operationIds, in camelCase, and no table row for a route that is gone', () => {
    const ids = Object.values(OPERATIONS).map((o) => o.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z]+$/);
    const documented = new Set(operations.map(([name]) => name.replace(/\{(\w+)\}/g, ':$1')));
    for (const key of Object.keys(OPERATIONS)) expect(documented, key).toContain(key);
  });

  it('answers 503 (database unreachable) on every route that reads the database', () => {
    for (const [name, op] of operations) {
      const row = OPERATIONS[name.replace(/\{(\w+)\}/g, ':$1')]!;
      if (row.usesDatabase === false) expect(op.responses['503'], name).toBeUndefined();
      else expect(op.responses['503'], name).toBeDefined();
    }
  });
});
