import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkBundlesLoad,
  checkTemplate,
  readTemplate,
  type Template,
} from '../../infra/check-template';
import { parsePlanCatalog } from '../../lib/config';
import { acceptedApiVersions } from '../../lib/stripe/events';

/**
 * The template check (infra/check-template.ts) against the template `serverless package`
 * really writes for the dev stage, offline and without AWS credentials, and against broken
 * copies of it: each fixture in broken/ changes it the way a careless edit would, and names the
 * problems the check must report.
 */
type Path = (string | number)[];
type Fixture = {
  readonly description: string;
  readonly set?: [Path, unknown][];
  readonly delete?: Path[];
  readonly problems: readonly string[];
};

const FIXTURES = join(import.meta.dirname, 'broken');
const PACKAGE_TIMEOUT_MS = 240_000;

function parentOf(root: unknown, path: Path): Record<string | number, unknown> {
  let at = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) {
    at = at[key] as Record<string | number, unknown>;
    if (at === undefined) throw new Error(`fixture path ${path.join('.')} is not in the template`);
  }
  return at;
}

function broken(template: Template, fixture: Fixture): Template {
  const copy = structuredClone(template);
  for (const [path, value] of fixture.set ?? [])
    parentOf(copy, path)[path.at(-1) as string] = value;
  for (const path of fixture.delete ?? []) {
    const parent = parentOf(copy, path);
    const key = path.at(-1) as string;
    if (!(key in parent)) throw new Error(`fixture deletes ${path.join('.')}, which is not there`);
    delete parent[key];
  }
  return copy;
}

describe('Template check', () => {
  let dir: string;
  let template: Template;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'image-credits-package-'));
    const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
    for (const name of [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_PROFILE',
    ]) {
      delete env[name];
    }
    await promisify(execFile)('npx', ['serverless', 'package', '--package', dir], {
      env,
      timeout: PACKAGE_TIMEOUT_MS,
    });
    template = readTemplate(join(dir, 'cloudformation-template-update-stack.json'));
  }, PACKAGE_TIMEOUT_MS + 10_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes the template serverless.yml packages, and every handler bundle loads', async () => {
    expect(checkTemplate(template)).toEqual([]);
    expect(await checkBundlesLoad()).toEqual([]);
  });

  it('reports a bundle whose lazily imported chunk is missing from the build (stripe-node)', async () => {
    // Prepare: a copy of the build without stripe-node's chunk
    const copy = mkdtempSync(join(tmpdir(), 'image-credits-build-'));
    try {
      cpSync('.esbuild/.build', copy, { recursive: true });
      const chunks = join(copy, 'functions/chunks');
      const stripeChunks = readdirSync(chunks).filter((name) => name.startsWith('stripe.'));
      for (const name of stripeChunks) rmSync(join(chunks, name));
      // Act
      const problems = await checkBundlesLoad(copy);
      // Assess
      expect(stripeChunks).toHaveLength(1);
      expect(problems).toContainEqual(
        expect.stringMatching(/^stripeWebhook: .* imports .*stripe\..*, which is not there$/),
      );
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  const fixtures = readdirSync(FIXTURES).filter((name) => name.endsWith('.json'));

  it('has broken-template fixtures', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(10);
  });

  it.each(fixtures)('reports what %s breaks', (name) => {
    // Prepare
    const fixture = JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Fixture;
    // Act
    const problems = checkTemplate(broken(template, fixture));
    // Assess
    for (const expected of fixture.problems) {
      expect(problems, fixture.description).toContainEqual(expect.stringContaining(expected));
    }
  });
});

describe('Per-stage configuration (config/<stage>.json)', () => {
  const require = createRequire(import.meta.url);
  const stageConfig = require('../../config/stage.cjs') as (options: {
    resolveVariable: (name: string) => Promise<string>;
  }) => Promise<Record<string, string>>;
  const stages = readdirSync(join(import.meta.dirname, '../../config'))
    .filter((name) => name.endsWith('.json'))
    .map((name) => name.replace(/\.json$/, ''));

  it.each(stages)('%s parses as the processor will read it', async (stage) => {
    // Act
    const values = await stageConfig({ resolveVariable: async () => stage });
    // Assess
    expect(() => parsePlanCatalog(JSON.parse(values.planCredits ?? ''))).not.toThrow();
    expect(() =>
      acceptedApiVersions((values.acceptedApiVersions ?? '').split(',').filter(Boolean)),
    ).not.toThrow();
    expect(values.secretsMaxAgeSeconds).toMatch(/^\d+$/);
  });

  it('refuses a stage without its own file, rather than deploy an empty catalog', async () => {
    await expect(stageConfig({ resolveVariable: async () => 'nostage' })).rejects.toThrow(
      'config/nostage.json does not exist',
    );
  });
});
