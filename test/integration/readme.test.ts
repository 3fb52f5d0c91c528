import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LOCAL_DEFAULTS,
  REPO_ROOT,
  type Run,
  runProcess,
  type Stack,
  startStack,
  stopStack,
} from '../support/local-stack';

/**
 * The README's quick start, and the runnable examples of the docs, pasted in order into another
 * terminal while `npm start` runs, as a reader would. Blocks marked `<!-- test: NAME -->` are
 * run line by line; a `# => text` line after a command is output that command must print
 * (`...` stands for anything). The commands never change here, so the docs cannot drift.
 */

type Step = { readonly command: string; readonly expected: string[] };

/** The steps of the shell blocks marked `<!-- test: name -->` in a Markdown file, in order. */
function markedSteps(file: string, name: string): Step[] {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  const blocks = text.matchAll(
    new RegExp(`<!-- test: ${name} -->\\n\`\`\`bash\\n([\\s\\S]*?)\`\`\``, 'g'),
  );
  const steps: Step[] = [];
  for (const [, body] of blocks) {
    for (const line of (body as string).split('\n')) {
      const expected = /^# => (.*)$/.exec(line);
      if (expected) steps.at(-1)?.expected.push(expected[1] as string);
      else if (line.trim() && !line.startsWith('#')) steps.push({ command: line, expected: [] });
    }
  }
  return steps;
}

/** `...` is a wildcard; everything else is literal. */
function pattern(expected: string): RegExp {
  const literal = expected.split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(literal.join('.*'));
}

/** One line of a docs block, as a shell at the repository root runs it. */
function shell(command: string, env: Record<string, string>): Promise<Run> {
  return runProcess('sh', ['-c', command], { cwd: REPO_ROOT, env: { ...LOCAL_DEFAULTS, ...env } });
}

const quickStart = markedSteps('README.md', 'quick-start');
const docs = markedSteps('docs/functions.md', 'docs');

describe('README', () => {
  it('starts with the two commands npm install and npm start', () => {
    const text = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    expect(text).toContain('## Quick start');
    expect(text).toContain('```bash\nnpm install\nnpm start\n```');
    expect(text.split('\n').length).toBeLessThan(250);
  });

  it('has a quick start and docs examples to run', () => {
    expect(quickStart.length).toBeGreaterThanOrEqual(5);
    expect(docs.length).toBeGreaterThanOrEqual(5);
  });
});

describe('README quick start and docs examples, pasted in order on a fresh stack', () => {
  let stack: Stack | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    stack = await startStack({}, { via: 'npm' });
    env = { PORT: String(stack.port), DYNAMODB_PORT: String(stack.dynamoDbPort) };
  });
  afterAll(async () => stopStack(stack));

  // Each step starts a CLI (node and tsx) of its own: seconds apiece on a busy machine.
  it('every command succeeds and prints what the docs say it prints', {
    timeout: 300_000,
  }, async () => {
    // The steps build on each other, as in the README, so they run as one test, in order.
    for (const [index, { command, expected }] of [...quickStart, ...docs].entries()) {
      // Act
      const run = await shell(command, env);

      // Assess
      const step = `step ${index + 1}: ${command}`;
      expect(run.code, `${step}\n${run.stdout}${run.stderr}`).toBe(0);
      for (const line of expected) expect(run.stdout, step).toMatch(pattern(line));
    }
  });
});
