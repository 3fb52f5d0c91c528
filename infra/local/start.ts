import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Config, loadConfig } from '../../lib/config';
import { ConfigError } from '../../lib/errors';
import { ensureTable } from '../table';
import {
  checkJava,
  type DynamoDbExit,
  exitReason,
  JavaMissingError,
  type LocalDynamoDb,
  startDynamoDbLocal,
} from './dynamodb';
import { loadEnvFile } from './env-file';
import { createLambdaContext, loadHandler } from './functions';
import { type HealthReport, startWebhookServer, WEBHOOK_PATH, type WebhookServer } from './http';
import { localDynamoDbClient, tableStatus } from './local-table';
import { isMainModule } from './main-module';
import { useSampleCatalog } from './sample-catalog';
import {
  localEndpoint,
  readStartSettings,
  StartError,
  type StartSettings,
  startBanner,
  useWebhookSecret,
} from './start-settings';
import { type StreamPump, startLocalEventsAt } from './streams';

/**
 * `npm start`: DynamoDB Local with its data under `.data/`, the table from infra/, and the
 * `stripeWebhook` handler behind a local API Gateway at http://localhost:3000/webhooks/stripe.
 * Ctrl-C (SIGINT), SIGTERM or a closed terminal (SIGHUP) stops both and exits 0.
 */

/** API Gateway HTTP APIs wait at most 30 s for the Lambda behind a route. */
const WEBHOOK_TIMEOUT_MS = 30_000;

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

type Running = {
  dynamo?: LocalDynamoDb;
  server?: WebhookServer;
  probe?: DynamoDBClient;
  events?: StreamPump;
};

async function stopAll(running: Running): Promise<void> {
  await running.server?.close();
  await running.events?.stop();
  running.probe?.destroy();
  await running.dynamo?.stop();
}

async function createTable(config: Config): Promise<boolean> {
  const client = localDynamoDbClient(config.dynamoDbEndpoint as string);
  try {
    return await ensureTable(client, config.tableName);
  } finally {
    client.destroy();
  }
}

/** `GET /health`: ok only while the handler's table answers, so a dead database shows. */
function tableHealth(running: Running, config: Config): () => Promise<HealthReport> {
  const probe = localDynamoDbClient(config.dynamoDbEndpoint as string, { probe: true });
  running.probe = probe;
  return async () => {
    const status = await tableStatus(probe, config.tableName);
    if (status.ok) return { ok: true, dynamodb: 'ok' };
    return {
      ok: false,
      dynamodb: status.missing ? 'no table' : 'unreachable',
      detail: status.detail,
    };
  };
}

async function serveWebhook(
  settings: StartSettings,
  health: () => Promise<HealthReport>,
): Promise<WebhookServer> {
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
      health,
    });
  } catch (error) {
    if ((error as { code?: string }).code === 'EADDRINUSE') throw portInUse(settings.port);
    throw error;
  }
}

/** Everything up to "Listening on"; throws StopRequested when a signal came in meanwhile. */
async function startStack(
  env: NodeJS.ProcessEnv,
  running: Running,
  options: { readonly stopping: () => unknown; readonly fromEnvFile: readonly string[] },
) {
  const { stopping, fromEnvFile } = options;
  const settings = readStartSettings(env);
  checkJava();
  const secret = useWebhookSecret(env);
  const sampleCatalog = useSampleCatalog(env);
  if (!env.DYNAMODB_ENDPOINT?.trim()) env.DYNAMODB_ENDPOINT = localEndpoint(settings);
  const config = loadConfig(env);
  await checkPorts(settings);
  mkdirSync(settings.dataDir, { recursive: true });
  const banner = startBanner({ settings, config, secret, env, fromEnvFile, sampleCatalog });
  for (const line of banner) console.log(line);
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
  running.server = await serveWebhook(settings, tableHealth(running, config));
  console.log(
    `Listening on http://localhost:${settings.port}${WEBHOOK_PATH} (Ctrl-C stops the stack)`,
  );
}

function isExpected(error: unknown): error is Error {
  return (
    error instanceof StartError || error instanceof JavaMissingError || error instanceof ConfigError
  );
}

/**
 * Runs the stack until SIGINT, SIGTERM or SIGHUP, or until DynamoDB Local dies; returns the
 * exit code. `fromEnvFile` names the variables that came from `.env`, for the banner.
 */
export async function main(
  env: NodeJS.ProcessEnv = process.env,
  fromEnvFile: readonly string[] = [],
): Promise<number> {
  const signals = stopSignals();
  const running: Running = {};
  // Last resort if this process dies some other way: never leave DynamoDB Local behind.
  process.once('exit', () => void running.dynamo?.stop());
  try {
    await startStack(env, running, { stopping: signals.received, fromEnvFile });
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
  const stop = await nextStop(signals.next, running.dynamo as LocalDynamoDb);
  if ('exit' in stop) {
    console.error(crashReport(stop.exit, running.dynamo as LocalDynamoDb));
    await stopAll(running);
    return 1;
  }
  console.log(`${stop.signal}: stopping the webhook server and DynamoDB Local...`);
  await stopAll(running);
  console.log('Stopped.');
  return 0;
}

/**
 * How long a signal may trail DynamoDB Local's exit and still count as the reason: a terminal's
 * Ctrl-C reaches java too, and its exit can be seen a moment before the signal.
 */
const SIGNAL_AFTER_EXIT_MS = 1_000;

type Stop = { readonly signal: NodeJS.Signals } | { readonly exit: DynamoDbExit };

/** The first stop signal, or DynamoDB Local exiting on its own, whichever comes first. */
async function nextStop(signal: Promise<NodeJS.Signals>, dynamo: LocalDynamoDb): Promise<Stop> {
  const first = await Promise.race([
    signal.then((received): Stop => ({ signal: received })),
    dynamo.exited.then((exit): Stop => ({ exit })),
  ]);
  if ('signal' in first) return first;
  const late = await Promise.race([
    signal,
    new Promise<undefined>((r) => setTimeout(() => r(undefined), SIGNAL_AFTER_EXIT_MS).unref()),
  ]);
  return late ? { signal: late } : first;
}

/** What `npm start` says when DynamoDB Local died under it, with the end of its output. */
function crashReport(exit: DynamoDbExit, dynamo: LocalDynamoDb): string {
  const tail = dynamo.output().trim().split('\n').slice(-10).join('\n');
  return [
    `DynamoDB Local stopped unexpectedly (${exitReason(exit)}); the webhook cannot work without`,
    'it, so npm start stops too. Run npm start again; the data in the data directory is kept.',
    ...(tail ? ['DynamoDB Local printed last:', tail] : []),
  ].join('\n');
}

if (isMainModule(import.meta.url)) {
  const fromEnvFile = loadEnvFile(process.env);
  main(process.env, fromEnvFile).then((code) => process.exit(code));
}
