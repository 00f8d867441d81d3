// Vitest global setup: every way of running the tests (`npm test`, `npx vitest run FILE`, watch
// mode, `npm run openapi`) first rebuilds whatever part of dist/ is older than its sources.
import type { TestProject } from 'vitest/node';
import { ROOT } from '../helpers/process.js';
import { buildIfStale, TARGETS } from './build.js';

function buildStale(): void {
  for (const target of TARGETS) buildIfStale(ROOT, target);
}

export default function setup(project: TestProject): void {
  buildStale();
  project.onTestsRerun(() => buildStale());
}
