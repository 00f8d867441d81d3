import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Files run in parallel processes; each one owns its temporary SQLite file or PostgreSQL
    // database, so nothing is shared between them.
    pool: 'forks',
    // Rebuilds dist/ (the send thread and spawned processes run it) when a source is newer.
    globalSetup: ['test/setup/global.ts'],
    // Fails a test file that leaves a socket, server, process, thread or timer open.
    setupFiles: ['test/setup/no-leaks.ts'],
  },
});
