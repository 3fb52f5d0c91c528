import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

/**
 * The optional `.env` file of `npm start`, `npm run invoke` and `npm run trigger`, so settings
 * such as PLAN_CREDITS are written once instead of in every shell. It is read from the current
 * directory, which for npm scripts is the repository root. As with Node's own `--env-file`, a
 * variable already set in the environment wins over the file, so a one-off `PORT=3001 npm start`
 * still works. (Node's `--env-file-if-exists` would do the same but prints a notice whenever
 * the file is absent, which is the usual case.)
 */

export const ENV_FILE = '.env';

/** Copies the file's variables into `env` where `env` has none; returns the names it set. */
export function loadEnvFile(env: NodeJS.ProcessEnv, path: string = resolve(ENV_FILE)): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const loaded: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    loaded.push(name);
  }
  return loaded;
}
