import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * Lambda runs `nodejs22.x`, so everything here runs on Node 22 too: the `node` devDependency
 * brings it (its bin/node comes first on every npm script's PATH), whatever Node ran npm.
 * These checks keep the places that name the version in step.
 */

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
};

describe('Node version', () => {
  it('runs the tests on the pinned Node 22, not on the Node that started npm', () => {
    expect(process.version).toBe(`v${pkg.devDependencies.node}`);
    expect(process.versions.node.split('.')[0]).toBe('22');
  });

  it('names 22 wherever a version is named: engines, .nvmrc, @types/node and the Lambda runtime', () => {
    expect(pkg.engines.node).toBe('>=22');
    expect(pkg.devDependencies.node).toMatch(/^22\.\d+\.\d+$/);
    expect(read('.nvmrc').trim()).toBe('22');
    expect(pkg.devDependencies['@types/node']).toMatch(/^22\./);
    expect(read('serverless.yml')).toMatch(/^ {2}runtime: nodejs22\.x$/m);
  });

  it("approves the node package's install script, which fetches the Node binary", () => {
    expect(pkg.allowScripts.node).toBe(true);
  });
});
