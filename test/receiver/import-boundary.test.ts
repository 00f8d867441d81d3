// SPEC §8: `rizler-webhooks/receiver` loads nothing of the server. The receiver's modules are
// compiled exactly as tsc emits them (verbatimModuleSyntax keeps every import that is not
// `import type`), then loaded in a fresh Node process that records every module it resolves.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { makeSecret, signedDelivery } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const ENTRY = 'src/receiver/index.ts';
const ALLOWED_FILES = /^src\/(receiver\/[^/]+|core\/signing)\.ts$/;
const ALLOWED_PACKAGES = new Set(['node:crypto']);

const out = mkdtempSync(join(tmpdir(), 'rizler-receiver-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Emits the runtime graph from ENTRY into `out`; returns its files and bare imports. */
function emitRuntimeGraph(): { files: string[]; packages: string[] } {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
  );
  if (config === undefined) throw new Error('cannot read tsconfig.json');
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [ENTRY];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const js = ts.transpileModule(readFileSync(join(ROOT, file), 'utf8'), {
      // What tsc emits for this "type": "module" package; transpileModule alone cannot see
      // package.json, so it is told the format.
      compilerOptions: { ...config.options, module: ts.ModuleKind.ESNext },
      fileName: file,
    }).outputText;
    const target = join(out, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
    for (const { fileName: spec } of ts.preProcessFile(js, true, true).importedFiles) {
      if (spec.startsWith('.')) {
        queue.push(relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts'));
      } else {
        packages.add(spec);
      }
    }
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  return { files: [...files].sort(), packages: [...packages].sort() };
}

describe('rizler-webhooks/receiver', () => {
  const graph = emitRuntimeGraph();

  it('imports at runtime only its own files, src/core/signing.ts and node:crypto', () => {
    expect(graph.files.filter((f) => !ALLOWED_FILES.test(f))).toEqual([]);
    expect(graph.files).toContain('src/core/signing.ts');
    expect(graph.files).not.toContain('src/receiver/generate-types.ts');
    expect(graph.packages.filter((p) => !ALLOWED_PACKAGES.has(p))).toEqual([]);
    expect(graph.packages).toEqual(['node:crypto']);
  });

  it('loads and verifies in a fresh Node process without resolving any package', () => {
    const secret = makeSecret();
    const d = signedDelivery({ secrets: [secret] });
    const hook = `export async function resolve(specifier, context, next) {
      if (!specifier.startsWith('.') && !specifier.startsWith('file:') && !specifier.startsWith('node:')) {
        throw new Error('the receiver resolved the package ' + specifier);
      }
      return next(specifier, context);
    }`;
    const script = `
      import { register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
      const receiver = await import(${JSON.stringify(pathToFileURL(join(out, 'src/receiver/index.js')).href)});
      const [body, headers, secret] = JSON.parse(process.argv[1]);
      const event = receiver.verifyWebhook(body, headers, secret);
      process.stdout.write(JSON.stringify({ id: event.id, exports: Object.keys(receiver).sort() }));
    `;
    const stdout = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', script, JSON.stringify([d.body, d.headers, secret])],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(stdout)).toEqual({
      id: d.id,
      exports: [
        'WebhookVerificationError',
        'rizlerWebhookMiddleware',
        'rizlerWebhookPlugin',
        'verifySignature',
        'verifyWebhook',
      ],
    });
  });
});
