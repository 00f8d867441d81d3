// The storage contract: what the API, worker and CLI see of an engine. The engine itself is
// opened by open.ts, which imports the engines; this module imports none of them.
export * from './types.js';
