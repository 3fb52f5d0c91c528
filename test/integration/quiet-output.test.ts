import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * What `npm test` prints, seen from outside: vitest with the project's configuration runs a
 * sample file holding a passing and a failing test, both of which log through console and
 * straight to stderr (as the handlers' JSON logger does).
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function runSample() {
  // On this process's Node (the pinned one), whatever `node` the PATH would find.
  const run = spawnSync(
    process.execPath,
    [
      'node_modules/vitest/vitest.mjs',
      'run',
      '--config',
      'test/fixtures/quiet-output/vitest.config.ts',
    ],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, CI: 'true' } },
  );
  return { code: run.status, output: stripVTControlCharacters(`${run.stdout}${run.stderr}`) };
}

describe('Test output', () => {
  it("prints one line for the file, the failure, and only the failing test's logs", () => {
    // Act
    const { code, output } = runSample();

    // Assess
    expect(code).toBe(1);
    expect(output).toMatch(
      /^ .* test\/fixtures\/quiet-output\/logs\.sample\.ts \(2 tests \| 1 failed\)/m,
    );
    expect(output).toContain('fails after logging');
    expect(output).toContain('console line of a failing test');
    expect(output).toContain('stderr line of a failing test');
    expect(output).not.toContain('of a passing test');
  });
});
