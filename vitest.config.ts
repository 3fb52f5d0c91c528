import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/quiet-output.ts'],
    // Integration tests each make their own table, so files run side by side safely.
    fileParallelism: true,
    // A fresh worker per file (vitest's default, stated so that it is a choice): files set
    // environment variables and module state of their own.
    isolate: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // A passing run prints one line per file; a failing test's logs (console and the handlers'
    // stderr lines, see quiet-output.ts) are printed with its failure.
    silent: 'passed-only',
    reporters: [['default', { summary: false }]],
    // The per-file line already gives the time; a list of slow tests is a job for
    // `npx vitest run --reporter=verbose`, not for every run.
    slowTestThreshold: 120_000,
  },
});
