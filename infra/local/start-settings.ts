import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, DEFAULT_TABLE_NAME } from '../../lib/config';
import { DEFAULT_DYNAMODB_PORT, DEFAULT_PORT, LOCAL_WEBHOOK_SECRET } from './functions';
import { WEBHOOK_PATH } from './http';

/**
 * What `npm start` reads from its environment, and the banner it prints first: where
 * everything runs and how the other commands reach it.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** A start-up problem with a message that already says what to do; printed without a stack. */
export class StartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}

export type StartSettings = {
  readonly port: number;
  readonly dynamoDbPort: number;
  readonly dataDir: string;
  readonly host: string;
};

function portFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new StartError(`${name} must be a port number from 1 to 65535, got "${raw}"`);
  }
  return port;
}

/** PORT (3000), DYNAMODB_PORT (8000) and DATA_DIR (`.data/` in the repository root). */
export function readStartSettings(env: NodeJS.ProcessEnv): StartSettings {
  const dataDir = env.DATA_DIR?.trim();
  return {
    port: portFrom(env, 'PORT', DEFAULT_PORT),
    dynamoDbPort: portFrom(env, 'DYNAMODB_PORT', DEFAULT_DYNAMODB_PORT),
    dataDir: dataDir ? resolve(dataDir) : join(REPO_ROOT, '.data'),
    host: '127.0.0.1',
  };
}

export type SecretSource =
  | { readonly kind: 'local-default' }
  | { readonly kind: 'env'; readonly count: number; readonly endings: readonly string[] };

/**
 * Without STRIPE_WEBHOOK_SECRET the stack uses LOCAL_WEBHOOK_SECRET (exported into the
 * environment before the handler loads), so signed test events work out of the box. Real
 * secrets are never printed: only their last four characters, and none of a short one.
 */
export function useWebhookSecret(env: NodeJS.ProcessEnv): SecretSource {
  const secrets = (env.STRIPE_WEBHOOK_SECRET ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  if (secrets.length === 0) {
    env.STRIPE_WEBHOOK_SECRET = LOCAL_WEBHOOK_SECRET;
    return { kind: 'local-default' };
  }
  const endings = secrets.map((secret) => (secret.length > 8 ? `…${secret.slice(-4)}` : '…'));
  return { kind: 'env', count: secrets.length, endings };
}

function describeSecret(secret: SecretSource): string[] {
  if (secret.kind === 'env') {
    const what = secret.count === 1 ? 'secret' : `${secret.count} secrets`;
    return [`${what} from STRIPE_WEBHOOK_SECRET (${secret.endings.join(', ')})`];
  }
  return [
    `${LOCAL_WEBHOOK_SECRET}   <-- LOCAL DEFAULT, STRIPE_WEBHOOK_SECRET is not set`,
    '  (sign test events with it; for `stripe listen`, restart with',
    '   STRIPE_WEBHOOK_SECRET=<the whsec_... that `stripe listen` prints>)',
  ];
}

function describePlans(config: Config, sampleCatalog: boolean): string {
  const prices = Object.keys(config.planCredits);
  if (prices.length === 0) return '0 prices (PLAN_CREDITS is not set)';
  const shown = prices.slice(0, 5).join(', ') + (prices.length > 5 ? ', ...' : '');
  const described = `${prices.length} price${prices.length === 1 ? '' : 's'} (${shown})`;
  return sampleCatalog
    ? `${described}   <-- LOCAL DEFAULT, the trigger's sample prices`
    : described;
}

/**
 * The environment another shell needs for `npm run invoke` to meet this stack. What came from
 * `.env` is left out: invoke reads that file too.
 */
function invokeEnvPrefix(
  settings: StartSettings,
  config: Config,
  env: NodeJS.ProcessEnv,
  fromEnvFile: readonly string[],
) {
  const parts: string[] = [];
  const endpointWasSet = env.DYNAMODB_ENDPOINT !== localEndpoint(settings);
  if (endpointWasSet) parts.push(`DYNAMODB_ENDPOINT=${config.dynamoDbEndpoint}`);
  else if (settings.dynamoDbPort !== DEFAULT_DYNAMODB_PORT) {
    parts.push(`DYNAMODB_PORT=${settings.dynamoDbPort}`);
  }
  if (config.tableName !== DEFAULT_TABLE_NAME) parts.push(`TABLE_NAME=${config.tableName}`);
  return parts
    .filter((part) => !fromEnvFile.includes(part.slice(0, part.indexOf('='))))
    .map((part) => `${part} `)
    .join('');
}

/** What the trigger needs on top of invoke's settings: the webhook's port. */
function triggerEnvPrefix(settings: StartSettings, fromEnvFile: readonly string[]): string {
  return settings.port === DEFAULT_PORT || fromEnvFile.includes('PORT')
    ? ''
    : `PORT=${settings.port} `;
}

export function localEndpoint(settings: StartSettings): string {
  return `http://localhost:${settings.dynamoDbPort}`;
}

/** The first lines `npm start` prints: what runs where, and how to talk to it. */
export function startBanner(options: {
  settings: StartSettings;
  config: Config;
  secret: SecretSource;
  env: NodeJS.ProcessEnv;
  /** Names of the variables read from `.env` (never their values). */
  fromEnvFile?: readonly string[];
  /** PLAN_CREDITS was not set, so the local stack uses the sample catalog. */
  sampleCatalog?: boolean;
}): string[] {
  const { settings, config, secret, env, fromEnvFile = [], sampleCatalog = false } = options;
  const webhookUrl = `http://localhost:${settings.port}${WEBHOOK_PATH}`;
  const handlerEndpoint =
    config.dynamoDbEndpoint !== localEndpoint(settings)
      ? ` (the handler uses DYNAMODB_ENDPOINT=${config.dynamoDbEndpoint})`
      : '';
  const [secretLine, ...secretNotes] = describeSecret(secret);
  return [
    'image-credits local stack',
    `  DynamoDB Local  ${localEndpoint(settings)}${handlerEndpoint}`,
    `  Data directory  ${settings.dataDir} (delete it to reset)`,
    `  Table           ${config.tableName}`,
    `  Webhook URL     ${webhookUrl}`,
    `  Webhook secret  ${secretLine}`,
    ...secretNotes.map((note) => `                  ${note}`),
    `  PLAN_CREDITS    ${describePlans(config, sampleCatalog)}`,
    `  .env            ${fromEnvFile.length > 0 ? fromEnvFile.join(', ') : 'none (optional; see .env.example)'}`,
    `  Stripe CLI      stripe listen --forward-to localhost:${settings.port}${WEBHOOK_PATH}`,
    `  Try             ${triggerEnvPrefix(settings, fromEnvFile)}${invokeEnvPrefix(settings, config, env, fromEnvFile)}npm run trigger -- subscribe --customer cus_123`,
    `                  ${invokeEnvPrefix(settings, config, env, fromEnvFile)}npm run invoke -- credits '{"action":"balance","customerId":"cus_123"}'`,
  ];
}
