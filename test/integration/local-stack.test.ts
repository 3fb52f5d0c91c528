import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb';
import { LOCAL_WEBHOOK_SECRET } from '../../infra/local/functions';
import { paidInvoiceEvent, signedRequest } from '../support/stripe-events';

/**
 * The local stack as a developer runs it: `npm start` (tsx infra/local/start.ts, which is what
 * the script runs) as a child process on free ports with its own data directory, real HTTP
 * requests to it, and `npm run invoke` (tsx infra/local/invoke.ts) against its DynamoDB Local.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(REPO_ROOT, 'node_modules/.bin/tsx');
const PRICE_ID = 'price_local_stack_500';
const PLAN_CREDITS = JSON.stringify({ [PRICE_ID]: 500 });

type Exit = { code: number | null; signal: NodeJS.Signals | null };

type Stack = {
  readonly child: ChildProcess;
  readonly port: number;
  readonly dynamoDbPort: number;
  readonly dataDir: string;
  readonly exited: Promise<Exit>;
  stdout(): string;
  stderr(): string;
};

/** The environment of a developer's shell that set none of the stack's variables. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [
    'PORT',
    'DYNAMODB_PORT',
    'DYNAMODB_ENDPOINT',
    'DATA_DIR',
    'TABLE_NAME',
    'STRIPE_WEBHOOK_SECRET',
    'STRIPE_SECRET_KEY',
    'STRIPE_API_BASE',
    'PLAN_CREDITS',
  ]) {
    delete env[name];
  }
  return { ...env, ...extra };
}

async function twoFreePorts(): Promise<[number, number]> {
  const first = await freePort();
  let second = await freePort();
  while (second === first) second = await freePort();
  return [first, second];
}

function waitForLine(stack: Stack, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolveLine, reject) => {
    const timer = setTimeout(() => {
      reject(
        new Error(`no ${pattern} within ${timeoutMs} ms:\n${stack.stdout()}${stack.stderr()}`),
      );
    }, timeoutMs);
    const check = () => {
      if (!pattern.test(stack.stdout())) return;
      clearTimeout(timer);
      resolveLine();
    };
    stack.child.stdout?.on('data', check);
    stack.exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited (${code}):\n${stack.stdout()}${stack.stderr()}`));
    });
    check();
  });
}

function runStart(env: Record<string, string>): Stack & { exited: Promise<Exit> } {
  let out = '';
  let err = '';
  const child = spawn(TSX, ['infra/local/start.ts'], {
    cwd: REPO_ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<Exit>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  return {
    child,
    port: Number(env.PORT),
    dynamoDbPort: Number(env.DYNAMODB_PORT),
    dataDir: env.DATA_DIR ?? '',
    exited,
    stdout: () => out,
    stderr: () => err,
  };
}

async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const [port, dynamoDbPort] = await twoFreePorts();
  const dataDir = await mkdtemp(join(tmpdir(), 'local-stack-'));
  const stack = runStart({
    PORT: String(port),
    DYNAMODB_PORT: String(dynamoDbPort),
    DATA_DIR: dataDir,
    PLAN_CREDITS,
    ...env,
  });
  await waitForLine(stack, /^Listening on /m, 45_000);
  return stack;
}

/** Java processes of DynamoDB Local serving `port`, by their command line. */
function dynamoDbLocalProcesses(port: number): string[] {
  const found = spawnSync('pgrep', ['-f', `DynamoDBLocal\\.jar.*-port ${port}( |$)`], {
    encoding: 'utf8',
  });
  return found.stdout.split('\n').filter(Boolean);
}

/** The node process running start.ts: the one child of the tsx wrapper process. */
function startScriptPid(stack: Stack): number {
  const found = spawnSync('pgrep', ['-P', String(stack.child.pid)], { encoding: 'utf8' });
  const pids = found.stdout.split('\n').filter(Boolean);
  expect(pids).toHaveLength(1);
  return Number(pids[0]);
}

/** Stops a stack whatever state a failed test left it in; never leaves java behind. */
async function stopStack(stack: Stack | undefined): Promise<void> {
  if (!stack) return;
  if (stack.child.exitCode === null && stack.child.signalCode === null) {
    stack.child.kill('SIGINT');
    const stopped = await Promise.race([
      stack.exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
    ]);
    if (!stopped) stack.child.kill('SIGKILL');
  }
  for (const pid of dynamoDbLocalProcesses(stack.dynamoDbPort))
    process.kill(Number(pid), 'SIGKILL');
  await rm(stack.dataDir, { recursive: true, force: true });
}

type Run = { code: number | null; stdout: string; stderr: string };

function invoke(args: string[], env: Record<string, string>, stdin?: string): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(TSX, ['infra/local/invoke.ts', ...args], {
      cwd: REPO_ROOT,
      env: cleanEnv(env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

function postWebhook(stack: Stack, body: string, headers: Record<string, string>) {
  return fetch(`http://localhost:${stack.port}/webhooks/stripe`, {
    method: 'POST',
    headers,
    body,
  });
}

describe('Local stack: npm start and npm run invoke', () => {
  let stack: Stack | undefined;
  let invokeEnv: Record<string, string>;

  beforeAll(async () => {
    stack = await startStack();
    invokeEnv = { DYNAMODB_PORT: String(stack.dynamoDbPort), PLAN_CREDITS };
  });
  afterAll(async () => stopStack(stack));

  it('says in its first lines where everything is', () => {
    // Prepare
    const { port, dynamoDbPort, dataDir } = stack as Stack;

    // Act
    const lines = (stack as Stack).stdout().split('\n');
    const banner = lines.slice(0, lines.indexOf('Starting DynamoDB Local...')).join('\n');

    // Assess
    expect(lines[0]).toBe('image-credits local stack');
    expect(banner).toContain(`DynamoDB Local  http://localhost:${dynamoDbPort}`);
    expect(banner).toContain(`Data directory  ${dataDir}`);
    expect(banner).toContain('Table           image-credits-local');
    expect(banner).toContain(`Webhook URL     http://localhost:${port}/webhooks/stripe`);
    expect(banner).toMatch(/Webhook secret {2}whsec_local_dev_secret .*LOCAL DEFAULT/);
    expect(banner).toContain(`PLAN_CREDITS    1 price (${PRICE_ID})`);
    expect(banner).toContain(`stripe listen --forward-to localhost:${port}/webhooks/stripe`);
    expect(banner).toContain(
      `DYNAMODB_PORT=${dynamoDbPort} npm run invoke -- credits '{"action":"balance","customerId":"cus_123"}'`,
    );
  });

  it('answers 200 to a signed invoice.paid and grants its credits (C2), 400 to unsigned or wrongly signed ones', async () => {
    // Prepare
    const customerId = `cus_local_${randomUUID().slice(0, 8)}`;
    const event = paidInvoiceEvent({
      customerId,
      subscriptionId: `sub_local_${randomUUID().slice(0, 8)}`,
      lines: [{ priceId: PRICE_ID, periodStart: '2026-11-01T00:00:00Z' }],
    });
    const signed = signedRequest(event, { secret: LOCAL_WEBHOOK_SECRET });
    const wronglySigned = signedRequest(event, { secret: 'whsec_somebody_else' });
    const running = stack as Stack;

    // Act
    const unsigned = await postWebhook(running, signed.body, {
      'content-type': 'application/json',
    });
    const forged = await postWebhook(running, wronglySigned.body, wronglySigned.headers);
    const delivered = await postWebhook(running, signed.body, signed.headers);
    const balance = await invoke(
      ['credits', JSON.stringify({ action: 'balance', customerId, now: '2026-11-02T00:00:00Z' })],
      invokeEnv,
    );

    // Assess
    expect(unsigned.status).toBe(400);
    expect(forged.status).toBe(400);
    expect(delivered.status).toBe(200);
    expect(await delivered.json()).toMatchObject({ received: true });
    expect(balance.code).toBe(0);
    expect(JSON.parse(balance.stdout)).toMatchObject({ customerId, balance: 500 });
  });

  it('invoke prints only the JSON result on stdout: credits balance of a new customer is 0', async () => {
    // Act
    const run = await invoke(['credits', '{"action":"balance","customerId":"cus_x"}'], invokeEnv);

    // Assess
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ customerId: 'cus_x', balance: 0, held: 0, lots: [] });
  });

  it('invoke signs a Stripe event for stripeWebhook with the same local secret and prints the API Gateway response', async () => {
    // Prepare: an event type the processor acknowledges without acting on it
    const event = JSON.stringify({
      id: `evt_local_${randomUUID().slice(0, 8)}`,
      object: 'event',
      type: 'customer.created',
      api_version: (await import('stripe')).default.API_VERSION,
      created: 1_790_000_000,
      data: { object: { id: 'cus_local_new', object: 'customer' } },
    });

    // Act: the event on stdin this time
    const run = await invoke(['stripeWebhook', '-'], invokeEnv, event);

    // Assess
    expect(run.code).toBe(0);
    const response = JSON.parse(run.stdout);
    expect(response).toMatchObject({ statusCode: 200 });
    expect(JSON.parse(response.body)).toMatchObject({ received: true });
  });

  it('invoke reports a handler error as errorType and errorMessage and exits 1', async () => {
    // Act
    const run = await invoke(['credits', '{"action":"balance"}'], invokeEnv);

    // Assess
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      errorType: 'InputError',
      errorMessage: expect.stringContaining('customerId'),
    });
  });

  it('invoke refuses JSON that does not parse with the usage and exit code 2', async () => {
    // Act
    const run = await invoke(['credits', '{action: balance}'], invokeEnv);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('is not valid JSON');
    expect(run.stderr).toContain("usage: npm run invoke -- <function> '<json>'");
  });

  it('a second npm start on the same DynamoDB port says DynamoDB Local is already running', async () => {
    // Prepare
    const running = stack as Stack;
    const second = runStart({
      PORT: String(await freePort()),
      DYNAMODB_PORT: String(running.dynamoDbPort),
      DATA_DIR: running.dataDir,
    });

    // Act
    const exit = await second.exited;

    // Assess
    expect(exit.code).toBe(1);
    expect(second.stderr()).toContain(
      `DynamoDB Local is already running on port ${running.dynamoDbPort}`,
    );
    expect(second.stderr()).not.toMatch(/\n\s+at /);
  });

  it('a second npm start on the same PORT says the port is in use, before starting anything', async () => {
    // Prepare
    const running = stack as Stack;
    const second = runStart({
      PORT: String(running.port),
      DYNAMODB_PORT: String(await freePort()),
      DATA_DIR: running.dataDir,
    });

    // Act
    const exit = await second.exited;

    // Assess
    expect(exit.code).toBe(1);
    expect(second.stderr()).toContain(`Port ${running.port} (PORT) is already in use`);
    expect(second.stdout()).not.toContain('Starting DynamoDB Local');
  });

  it('npm start without Java says so, and how to install it', async () => {
    // Prepare: a PATH with node on it and no java
    const bin = await mkdtemp(join(tmpdir(), 'no-java-'));
    await symlink(process.execPath, join(bin, 'node'));
    const withoutJava = runStart({
      PORT: String(await freePort()),
      DYNAMODB_PORT: String(await freePort()),
      DATA_DIR: join(bin, 'data'),
      PATH: bin,
    });

    // Act
    const exit = await withoutJava.exited;
    await rm(bin, { recursive: true, force: true });

    // Assess
    expect(exit.code).toBe(1);
    expect(withoutJava.stderr()).toContain('DynamoDB Local needs Java 17 or newer');
    expect(withoutJava.stderr()).toContain('openjdk-17');
    expect(withoutJava.stderr()).not.toMatch(/\n\s+at /);
  });

  // Last, because it ends the stack that beforeAll started; it uses nothing the others left.
  it('stops the webhook server and DynamoDB Local on SIGINT, exits 0 and keeps the data', async () => {
    // Prepare
    const running = stack as Stack;
    expect(dynamoDbLocalProcesses(running.dynamoDbPort)).toHaveLength(1);

    // Act: to the process that runs start.ts. (Sent to tsx's wrapper process instead, tsx relays
    // it but SIGKILLs its child if that does not confirm within 30 ms, which a loaded machine
    // can miss; a terminal's Ctrl-C reaches both processes, and then tsx relays nothing.)
    process.kill(startScriptPid(running), 'SIGINT');
    const exit = await running.exited;

    // Assess
    expect(exit).toEqual({ code: 0, signal: null });
    expect(running.stdout()).toContain('Stopped.');
    expect(dynamoDbLocalProcesses(running.dynamoDbPort)).toEqual([]);
    await expect(fetch(`http://localhost:${running.port}/health`)).rejects.toThrow();
    expect(existsSync(join(running.dataDir, 'shared-local-instance.db'))).toBe(true);
    const after = await invoke(['credits', '{"action":"balance","customerId":"cus_x"}'], invokeEnv);
    expect(after.code).toBe(1);
    expect(after.stdout).toBe('');
    expect(after.stderr).toContain('Is `npm start` running?');
  });
});
