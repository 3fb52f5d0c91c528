import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadEnvFile } from '../../infra/local/env-file';

describe('Function: loadEnvFile', () => {
  let folder: string | undefined;

  async function envFile(text: string): Promise<string> {
    folder = await mkdtemp(join(tmpdir(), 'env-file-unit-'));
    const path = join(folder, '.env');
    await writeFile(path, text);
    return path;
  }

  afterEach(async () => {
    if (folder) await rm(folder, { recursive: true, force: true });
    folder = undefined;
  });

  it('sets what the file says, JSON and comments included, and names what it set', async () => {
    // Prepare
    const path = await envFile(
      [
        '# local settings',
        `PLAN_CREDITS='{"price_basic_monthly":100,"price_pro_monthly":500}'`,
        'PORT=3001',
        '',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = {};

    // Act
    const loaded = loadEnvFile(env, path);

    // Assess
    expect(env).toEqual({
      PLAN_CREDITS: '{"price_basic_monthly":100,"price_pro_monthly":500}',
      PORT: '3001',
    });
    expect(loaded.sort()).toEqual(['PLAN_CREDITS', 'PORT']);
  });

  it('leaves a variable the shell already set, even to an empty value', async () => {
    // Prepare
    const path = await envFile('PORT=3001\nTABLE_NAME=from-file\n');
    const env: NodeJS.ProcessEnv = { PORT: '4000', TABLE_NAME: '' };

    // Act
    const loaded = loadEnvFile(env, path);

    // Assess
    expect(env).toEqual({ PORT: '4000', TABLE_NAME: '' });
    expect(loaded).toEqual([]);
  });

  it('does nothing, silently, when there is no file', () => {
    // Prepare
    const env: NodeJS.ProcessEnv = {};

    // Act
    const loaded = loadEnvFile(env, join(tmpdir(), 'no-such-folder-for-env', '.env'));

    // Assess
    expect(loaded).toEqual([]);
    expect(env).toEqual({});
  });
});
