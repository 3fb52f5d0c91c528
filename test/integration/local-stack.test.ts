import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb';
import { LOCAL_WEBHOOK_SECRET } from '../../infra/local/functions';
import {
  dynamoDbLocalPid,
  invoke,
  postWebhook,
  runStart,
  type Stack,
  startStack as startLocalStack,
  stopStack,
} from '../support/local-stack';
import { paidInvoiceEvent, signedRequest } from '../support/stripe-events';

/**
 * The local stack as a developer runs it: `npm start` as a child process on free ports with its
 * own data directory, real HTTP requests to it, and `npm run invoke` against its DynamoDB Local.
 * (test/integration/local-service.test.ts: signals, crashes, health, binding, .env.)
 */

const PRICE_ID = 'price_local_stack_500';
const PLAN_CREDITS = JSON.stringify({ [PRICE_ID]: 500 });

const startStack = () => startLocalStack({ PLAN_CREDITS });

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
    expect(JSON.parse(run.stdout)).toEqual({
      customerId: 'cus_x',
      balance: 0,
      held: 0,
      debt: 0,
      lots: [],
      upcoming: [],
    });
  });

  it('invoke signs a Stripe event for stripeWebhook with the same local secret and prints the API Gateway response, its body as JSON', async () => {
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
    expect(response).toMatchObject({ statusCode: 200, body: { received: true } });
    expect(run.stdout).toContain('\n  "body": {\n    "received": true,');
  });

  it('invoke reports bad input as errorType and errorMessage, exits 1, and prints no stack trace', async () => {
    // Act
    const run = await invoke(['credits', '{"action":"balance"}'], invokeEnv);

    // Assess
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      errorType: 'InputError',
      errorMessage: expect.stringContaining('customerId'),
    });
    expect(run.stderr).toContain('credits refused the input: InputError: customerId');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('invoke suggests the function a typo meant, with exit code 2', async () => {
    // Act
    const run = await invoke(['credit', '{"action":"balance","customerId":"c"}'], invokeEnv);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown function "credit"; did you mean "credits"?');
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
    const java = dynamoDbLocalPid(running);

    // Act
    running.child.kill('SIGINT');
    const exit = await running.exited;

    // Assess
    expect(exit).toEqual({ code: 0, signal: null });
    expect(running.stdout()).toContain('Stopped.');
    expect(() => process.kill(java, 0)).toThrow(/ESRCH/);
    await expect(fetch(`http://localhost:${running.port}/health`)).rejects.toThrow();
    expect(existsSync(join(running.dataDir, 'shared-local-instance.db'))).toBe(true);
    const after = await invoke(['credits', '{"action":"balance","customerId":"cus_x"}'], invokeEnv);
    expect(after.code).toBe(1);
    expect(after.stdout).toBe('');
    expect(after.stderr).toContain('Is `npm start` running?');
  });
});
