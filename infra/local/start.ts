import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Config, DEFAULT_TABLE_NAME, loadConfig } from '../../lib/config';
import { ConfigError } from '../../lib/errors';
import { ensureTable } from '../table';
import { checkJava, JavaMissingError, type LocalDynamoDb, startDynamoDbLocal } from './dynamodb';
import {
  createLambdaContext,
  DEFAULT_DYNAMODB_PORT,
  DEFAULT_PORT,
  LOCAL_WEBHOOK_SECRET,
  loadHandler,
} from './functions';
import { startWebhookServer, WEBHOOK_PATH, type WebhookServer } from './http';
import { isMainModule, quietNodeVersionNotice } from './main-module';
import { type StreamPump, startLocalEventsAt } from './streams';

/**
 * `npm start`: DynamoDB Local with its data under `.data/`, the table from infra/, and the
 * `stripeWebhook` handler behind a local API Gateway at http://localhost:3000/webhooks/stripe.
 * Ctrl-C (SIGINT), SIGTERM or a closed terminal (SIGHUP) stops both and exits 0.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** API Gateway HTTP APIs wait at most 30 s for the Lambda behind a route. */
const WEBHOOK_TIMEOUT_MS = 30_000;

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

function describePlans(config: Config): string {
  const prices = Object.keys(config.planCredits);
  if (prices.length === 0) return '0 prices (PLAN_CREDITS is not set)';
  const shown = prices.slice(0, 5).join(', ') + (prices.length > 5 ? ', ...' : '');
  return `${prices.length} price${prices.length === 1 ? '' : 's'} (${shown})`;
}

/** The environment another shell needs for `npm run invoke` to meet this stack. */
function invokeEnvPrefix(settings: StartSettings, config: Config, env: NodeJS.ProcessEnv) {
  const parts: string[] = [];
  const endpointWasSet = env.DYNAMODB_ENDPOINT !== localEndpoint(settings);
  if (endpointWasSet) parts.push(`DYNAMODB_ENDPOINT=${config.dynamoDbEndpoint}`);
  else if (settings.dynamoDbPort !== DEFAULT_DYNAMODB_PORT) {
    parts.push(`DYNAMODB_PORT=${settings.dynamoDbPort}`);
  }
  if (config.tableName !== DEFAULT_TABLE_NAME) parts.push(`TABLE_NAME=${config.tableName}`);
  return parts.map((part) => `${part} `).join('');
}

function localEndpoint(settings: StartSettings): string {
  return `http://localhost:${settings.dynamoDbPort}`;
}

/** The first lines `npm start` prints: what runs where, and how to talk to it. */
export function startBanner(options: {
  settings: StartSettings;
  config: Config;
  secret: SecretSource;
  env: NodeJS.ProcessEnv;
}): string[] {
  const { settings, config, secret, env } = options;
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
    `  PLAN_CREDITS    ${describePlans(config)}`,
    `  Stripe CLI      stripe listen --forward-to localhost:${settings.port}${WEBHOOK_PATH}`,
    `  Try             ${invokeEnvPrefix(settings, config, env)}npm run invoke -- credits '{"action":"balance","customerId":"cus_123"}'`,
  ];
}

function canListen(port: number, host?: string): Promise<boolean> {
  return new Promise((resolveFree) => {
    const probe = createServer();
    probe.once('error', () => resolveFree(false));
    probe.listen({ port, ...(host && { host }), exclusive: true }, () => {
      probe.close(() => resolveFree(true));
    });
  });
}

/** DynamoDB (Local) answers a bare GET with an `application/x-amz-json-1.0` error. */
async function answersLikeDynamoDb(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      signal: AbortSignal.timeout(2_000),
    });
    await response.body?.cancel();
    return (response.headers.get('content-type') ?? '').includes('amz-json');
  } catch {
    return false;
  }
}

/** Fails before anything starts when either port is taken, saying by what if it can tell. */
async function checkPorts(settings: StartSettings): Promise<void> {
  const { dynamoDbPort, port } = settings;
  if (!(await canListen(dynamoDbPort))) {
    if (await answersLikeDynamoDb(dynamoDbPort)) {
      throw new StartError(
        `DynamoDB Local is already running on port ${dynamoDbPort}, probably from another ` +
          '`npm start`. Stop that one (Ctrl-C in its terminal), or run this one on other ports, ' +
          `e.g. PORT=${port + 1} DYNAMODB_PORT=${dynamoDbPort + 1} DATA_DIR=.data-2 npm start. ` +
          'If no `npm start` is running, a left-over one holds the port: ' +
          '`pgrep -af DynamoDBLocal` shows it.',
      );
    }
    throw new StartError(
      `Port ${dynamoDbPort} (DYNAMODB_PORT) is already in use by another program. ` +
        `Stop it, or choose another port, e.g. DYNAMODB_PORT=${dynamoDbPort + 1} npm start.`,
    );
  }
  if (!(await canListen(port, settings.host))) throw portInUse(port);
}

function portInUse(port: number): StartError {
  return new StartError(
    `Port ${port} (PORT) is already in use, perhaps by another \`npm start\`. ` +
      `Stop it, or choose another port, e.g. PORT=${port + 1} npm start.`,
  );
}

/**
 * Resolves with the first SIGINT/SIGTERM/SIGHUP; later ones only say that stopping is under way (a
 * terminal's Ctrl-C and tsx's relay can deliver the same SIGINT twice, so echoes are quiet).
 */
function stopSignals() {
  let received: NodeJS.Signals | undefined;
  let receivedAtMs = 0;
  let wake: (signal: NodeJS.Signals) => void = () => {};
  const next = new Promise<NodeJS.Signals>((resolveSignal) => {
    wake = resolveSignal;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      if (Date.now() - receivedAtMs > 1_000) {
        console.log(`(${signal} again: still stopping; DynamoDB Local is killed after 5 s)`);
      }
      return;
    }
    received = signal;
    receivedAtMs = Date.now();
    wake(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed terminal: stop as for Ctrl-C rather than leave DynamoDB Local running.
  process.on('SIGHUP', onSignal);
  return { next, received: () => received };
}

class StopRequested extends Error {}

type Running = { dynamo?: LocalDynamoDb; server?: WebhookServer; events?: StreamPump };

async function stopAll(running: Running): Promise<void> {
  await running.server?.close();
  await running.events?.stop();
  await running.dynamo?.stop();
}

async function createTable(config: Config): Promise<boolean> {
  const client = new DynamoDBClient({
    endpoint: config.dynamoDbEndpoint,
    region: process.env.AWS_REGION ?? 'local',
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    },
  });
  try {
    return await ensureTable(client, config.tableName);
  } finally {
    client.destroy();
  }
}

async function serveWebhook(settings: StartSettings): Promise<WebhookServer> {
  const webhook = await loadHandler('stripeWebhook');
  try {
    return await startWebhookServer({
      port: settings.port,
      host: settings.host,
      handler: (event) =>
        webhook(
          event,
          createLambdaContext({ functionName: 'stripeWebhook', timeoutMs: WEBHOOK_TIMEOUT_MS }),
        ),
      logRequest: (line) => console.log(`[webhook] ${line}`),
    });
  } catch (error) {
    if ((error as { code?: string }).code === 'EADDRINUSE') throw portInUse(settings.port);
    throw error;
  }
}

/** Everything up to "Listening on"; throws StopRequested when a signal came in meanwhile. */
async function startStack(env: NodeJS.ProcessEnv, running: Running, stopping: () => unknown) {
  const settings = readStartSettings(env);
  checkJava();
  const secret = useWebhookSecret(env);
  if (!env.DYNAMODB_ENDPOINT?.trim()) env.DYNAMODB_ENDPOINT = localEndpoint(settings);
  const config = loadConfig(env);
  await checkPorts(settings);
  mkdirSync(settings.dataDir, { recursive: true });
  for (const line of startBanner({ settings, config, secret, env })) console.log(line);
  console.log('Starting DynamoDB Local...');
  running.dynamo = await startDynamoDbLocal({
    port: settings.dynamoDbPort,
    dataDir: settings.dataDir,
  });
  if (stopping()) throw new StopRequested();
  const created = await createTable(config);
  console.log(`Table ${config.tableName} ${created ? 'created' : 'already there, data kept'}.`);
  // publishEvents on DynamoDB Local's stream, printing each event (C27).
  running.events = await startLocalEventsAt(config);
  if (stopping()) throw new StopRequested();
  running.server = await serveWebhook(settings);
  console.log(
    `Listening on http://localhost:${settings.port}${WEBHOOK_PATH} (Ctrl-C stops the stack)`,
  );
}

function isExpected(error: unknown): error is Error {
  return (
    error instanceof StartError || error instanceof JavaMissingError || error instanceof ConfigError
  );
}

/** Runs the stack until SIGINT, SIGTERM or SIGHUP; returns the exit code. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const signals = stopSignals();
  const running: Running = {};
  // Last resort if this process dies some other way: never leave DynamoDB Local behind.
  process.once('exit', () => void running.dynamo?.stop());
  try {
    await startStack(env, running, signals.received);
  } catch (error) {
    await stopAll(running);
    // Ctrl-C during start-up also reaches java (same process group), so whatever failed
    // after it is a consequence of stopping, not a fault to report.
    if (error instanceof StopRequested || signals.received()) {
      console.log('Stopped.');
      return 0;
    }
    if (isExpected(error)) console.error(error.message);
    else console.error('npm start failed:', error);
    return 1;
  }
  const signal = await signals.next;
  console.log(`${signal}: stopping the webhook server and DynamoDB Local...`);
  await stopAll(running);
  console.log('Stopped.');
  return 0;
}

if (isMainModule(import.meta.url)) {
  quietNodeVersionNotice();
  main().then((code) => process.exit(code));
}
