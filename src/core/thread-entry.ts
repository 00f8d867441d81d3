// Where the compiled module for a worker thread is. A thread runs JavaScript only: run from
// the TypeScript sources (the tests do), there is no .js beside the caller, and the
// `npm run build` output under dist/ is used instead.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `name` (e.g. './send-thread.js') beside the module at `from` (its import.meta.url). */
export function threadEntry(from: string, name: string): URL {
  const beside = new URL(name, from);
  if (existsSync(fileURLToPath(beside))) return beside;
  return new URL(beside.href.replace(/\/src\/(?!.*\/src\/)/, '/dist/src/'));
}
