// The committed src/receiver/event-types.ts is generated from the catalogue; these tests catch
// drift, and prove the generated types accept every catalogue example under strict settings.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as prettier from 'prettier';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/core/event-catalogue.js';
import type { EventTypeDefinition } from '../../src/core/event-catalogue.js';
import {
  dataTypeName,
  eventTypeName,
  generateEventTypes,
} from '../../src/receiver/generate-types.js';

const GENERATED_PATH = resolve(import.meta.dirname, '../../src/receiver/event-types.ts');
const REGENERATE = 'UPDATE_GENERATED=1 npx vitest run test/receiver/event-types.test.ts';

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

interface Diagnostic {
  line: number;
  message: string;
}

/** Type-checks `source` as a lone .mts file in a temporary folder; returns its diagnostics. */
function typeCheck(source: string): Diagnostic[] {
  const dir = mkdtempSync(join(tmpdir(), 'rizler-event-types-'));
  tempDirs.push(dir);
  const file = join(dir, 'check.mts');
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
    skipLibCheck: true,
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    line:
      d.file === undefined || d.start === undefined
        ? 0
        : d.file.getLineAndCharacterOfPosition(d.start).line,
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

const importLine = (names: string[]) =>
  `import type { ${names.join(', ')} } from ${JSON.stringify(GENERATED_PATH.replace(/\.ts$/, '.js'))};`;

function exampleAssignments(types: readonly EventTypeDefinition[]): string {
  const names = types.map((t) => dataTypeName(t.name));
  const lines = [importLine([...names, 'RizlerWebhookEvent', 'EventDataMap'])];
  types.forEach((t, i) => {
    const data = JSON.stringify(t.example, null, 2);
    lines.push(`export const data${i}: ${dataTypeName(t.name)} = ${data};`);
    lines.push(`export const mapped${i}: EventDataMap['${t.name}'] = data${i};`);
    lines.push(
      `export const event${i}: RizlerWebhookEvent = { id: 'evt_1', event: '${t.name}', ` +
        `timestamp: '2024-01-15T10:30:00Z', data: ${data} };`,
    );
  });
  return lines.join('\n');
}

describe('src/receiver/event-types.ts', () => {
  const generated = generateEventTypes(EVENT_TYPES);

  it('is what the generator makes from the catalogue', () => {
    const committed = readFileSync(GENERATED_PATH, 'utf8');
    if (committed !== generated && process.env.UPDATE_GENERATED === '1') {
      writeFileSync(GENERATED_PATH, generated);
      return;
    }
    expect(
      committed === generated,
      `src/receiver/event-types.ts is out of date with src/core/event-catalogue.ts; ` +
        `regenerate it with: ${REGENERATE}`,
    ).toBe(true);
  });

  it('starts with the do-not-edit header', () => {
    expect(generated.split('\n')[0]).toContain(
      'generated from src/core/event-catalogue.ts; do not edit',
    );
  });

  it('is already formatted the Prettier way', async () => {
    const options = await prettier.resolveConfig(GENERATED_PATH);
    expect(await prettier.check(generated, { ...options, filepath: GENERATED_PATH })).toBe(true);
  });

  it('has no runtime code and imports nothing', () => {
    const js = ts.transpileModule(generated, {
      compilerOptions: { module: ts.ModuleKind.ESNext, verbatimModuleSyntax: true },
    }).outputText;
    expect(js.replace(/\/\/.*$/gm, '').trim()).toBe('export {};');
  });

  it('accepts every catalogue example as its data type and as an event', () => {
    expect(typeCheck(exampleAssignments(EVENT_TYPES))).toEqual([]);
  });

  it('narrows the union on `event`', () => {
    const source = [
      importLine(['RizlerWebhookEvent']),
      'export function handle(e: RizlerWebhookEvent): number | string {',
      "  if (e.event === 'call.ended') return e.data.duration;",
      "  if (e.event === 'agent.status_changed') return e.data.to_status;",
      "  if (e.event === 'transcript.ready') return e.data.segments?.[0]?.speaker ?? 'none';",
      '  return e.id;',
      '}',
    ].join('\n');
    expect(typeCheck(source)).toEqual([]);
  });

  it('rejects data that breaks the schema (the check is not vacuous)', () => {
    const source = [
      importLine(['CallEndedData', 'RizlerWebhookEvent']),
      "export const a: CallEndedData = { call_id: 'c', duration: '180', status: 'completed' };",
      "export const b: CallEndedData = { call_id: 'c', duration: 1, status: 'finished' };",
      "export const c: CallEndedData = { call_id: 'c', status: 'completed' };",
      "export const d: RizlerWebhookEvent = { id: 'e', event: 'call.ended', timestamp: 't', " +
        "data: { agent_id: 'a', from_status: 'available', to_status: 'break' } };",
    ].join('\n');
    const diagnostics = typeCheck(source);
    const byLine = (line: number) =>
      diagnostics
        .filter((d) => d.line === line)
        .map((d) => d.message)
        .join('\n');
    expect(byLine(1)).toContain("'string' is not assignable to type 'number'");
    expect(byLine(2)).toContain('"finished"');
    expect(byLine(3)).toContain("'duration' is missing");
    expect(byLine(4)).not.toBe('');
  });
});

describe('generateEventTypes', () => {
  const one = (schema: Record<string, unknown>): string =>
    generateEventTypes([
      { name: 'x.happened', family: 'x', description: 'X happened.', schema, example: {} },
    ]);

  it('names types after the event', () => {
    expect(dataTypeName('agent.status_changed')).toBe('AgentStatusChangedData');
    expect(eventTypeName('call.ended')).toBe('CallEndedEvent');
  });

  it('marks optional, nullable and enum properties', () => {
    const out = one({
      type: 'object',
      properties: {
        a: { type: 'string' },
        b: { type: ['integer', 'null'] },
        c: { type: 'string', enum: ['p', "q'r"] },
        'd-e': { type: 'array', items: { type: 'boolean' } },
      },
      required: ['a'],
    });
    expect(out).toContain('  a: string;\n');
    expect(out).toContain('  b?: number | null;\n');
    expect(out).toContain("  c?: 'p' | 'q\\'r';\n");
    expect(out).toContain("  'd-e'?: boolean[];\n");
  });

  it('refuses schema constructs it cannot express rather than emit unknown', () => {
    expect(() => one({ type: 'object', properties: { a: { $ref: '#/x' } } })).toThrow(/\$ref/);
    expect(() => one({ type: 'object', properties: { a: {} } })).toThrow(/needs a type/);
  });
});
