// Placeholder until the PostgreSQL engine lands (issue 3): selecting it fails loudly at start.
import type { StorageOptions } from '../index.js';
import type { Storage } from '../types.js';

export const PostgresStorage = class {
  constructor(_url: string, _options: StorageOptions) {
    throw new Error('the PostgreSQL engine is not available in this build yet');
  }
} as unknown as new (url: string, options: StorageOptions) => Storage;
