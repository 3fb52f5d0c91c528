import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb';
import { LOCAL_WEBHOOK_SECRET } from '../../infra/local/functions';
import {
  applyLocalDefaults,
  describeHandlerError,
  formatOutcome,
  invokeHandler,
  isApiGatewayEvent,
  lambdaEventFor,
  parseInvokeArgs,
  readableResult,
  runInvoke,
  type signedWebhookEvent,
  UsageError,
} from '../../infra/local/invoke';
import { LOCAL_PLAN_CREDITS } from '../../infra/local/sample-catalog';
import { loadConfig } from '../../lib/config';
import { InputError } from '../../lib/errors';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const noStdin = async (): Promise<string> => {
  throw new Error('stdin must not be read');
};

describe('Function: parseInvokeArgs', () => {
  it('reads the function name and its JSON event', async () => {
    // Act
    const request = await parseInvokeArgs(
      ['credits', '{"action":"balance","customerId":"cus_1"}'],
      noStdin,
    );

    // Assess
    expect(request).toEqual({
      functionName: 'credits',
      event: { action: 'balance', customerId: 'cus_1' },
    });
  });

  it('reads the event from stdin when the argument is -', async () => {
    // Act
    const request = await parseInvokeArgs(['backfill', '-'], async () => '{"events": []}\n');

    // Assess
    expect(request).toEqual({ functionName: 'backfill', event: { events: [] } });
  });

  it('invokes rollover with {} when the event is left out', async () => {
    // Act
    const request = await parseInvokeArgs(['rollover'], noStdin);

    // Assess
    expect(request).toEqual({ functionName: 'rollover', event: {} });
  });

  it.each([
    [[], 'missing the function name'],
    [['stripe-webhook', '{}'], 'unknown function "stripe-webhook"; did you mean "stripeWebhook"?'],
    [['images', '{}'], /^unknown function "images"$/],
    [['credits', '{"action": balance}'], 'the event is not valid JSON'],
    [['credits'], 'credits needs an event'],
    [['credits', '{"action":', '"balance"}'], 'quote the JSON'],
  ])('refuses %j as bad usage (%s)', async (args, message) => {
    // Act
    const parsing = parseInvokeArgs(args, noStdin);

    // Assess
    await expect(parsing).rejects.toThrow(UsageError);
    await expect(parsing).rejects.toThrow(message);
  });

  it('refuses JSON on stdin that does not parse', async () => {
    // Act & Assess
    await expect(parseInvokeArgs(['credits', '-'], async () => 'nope')).rejects.toThrow(
      'the event on stdin is not valid JSON',
    );
  });
});

describe('Function: lambdaEventFor', () => {
  const nowMs = Date.parse('2026-11-21T12:00:00Z');
  const stripeEvent = { id: 'evt_1', object: 'event', type: 'customer.created', data: {} };

  it('signs a Stripe event with the first webhook secret and wraps it as an API Gateway v2 event', () => {
    // Prepare
    const config = loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_first, whsec_second' });

    // Act
    const event = lambdaEventFor(
      { functionName: 'stripeWebhook', event: stripeEvent },
      {
        config,
        nowMs,
      },
    ) as ReturnType<typeof signedWebhookEvent>;

    // Assess
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /webhooks/stripe',
      rawPath: '/webhooks/stripe',
      isBase64Encoded: false,
      requestContext: { http: { method: 'POST', path: '/webhooks/stripe' }, timeEpoch: nowMs },
    });
    const body = event.body ?? '';
    const signature = event.headers['stripe-signature'] ?? '';
    const verify = (secret: string) =>
      Stripe.webhooks.constructEvent(body, signature, secret, 300, undefined, nowMs / 1000);
    expect(verify('whsec_first').id).toBe('evt_1');
    expect(() => verify('whsec_second')).toThrow();
    expect(JSON.parse(body)).toEqual(stripeEvent);
  });

  it('passes an API Gateway event through untouched', () => {
    // Prepare
    const apiGatewayEvent = { routeKey: 'POST /webhooks/stripe', body: 'as is', headers: {} };

    // Act
    const event = lambdaEventFor(
      { functionName: 'stripeWebhook', event: apiGatewayEvent },
      { config: loadConfig({}), nowMs },
    );

    // Assess
    expect(event).toBe(apiGatewayEvent);
    expect(isApiGatewayEvent({ requestContext: {} })).toBe(true);
    expect(isApiGatewayEvent(stripeEvent)).toBe(false);
  });

  it('passes the JSON of the other functions as the event', () => {
    // Prepare
    const input = { action: 'balance', customerId: 'cus_1' };

    // Act
    const event = lambdaEventFor(
      { functionName: 'credits', event: input },
      { config: loadConfig({}), nowMs },
    );

    // Assess
    expect(event).toBe(input);
  });
});

describe('Function: applyLocalDefaults', () => {
  it('points at the DynamoDB Local of `npm start` and uses its local webhook secret and sample catalog', () => {
    // Prepare
    const plain: NodeJS.ProcessEnv = {};
    const otherPort: NodeJS.ProcessEnv = { DYNAMODB_PORT: '8123' };
    const explicit: NodeJS.ProcessEnv = {
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:9000',
      STRIPE_WEBHOOK_SECRET: 'whsec_cli',
      PLAN_CREDITS: '{"price_mine":10}',
    };

    // Act
    for (const env of [plain, otherPort, explicit]) applyLocalDefaults(env);

    // Assess
    expect(plain).toEqual({
      DYNAMODB_ENDPOINT: 'http://localhost:8000',
      STRIPE_WEBHOOK_SECRET: LOCAL_WEBHOOK_SECRET,
      PLAN_CREDITS: LOCAL_PLAN_CREDITS,
    });
    expect(otherPort.DYNAMODB_ENDPOINT).toBe('http://localhost:8123');
    expect(explicit).toEqual({
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:9000',
      STRIPE_WEBHOOK_SECRET: 'whsec_cli',
      PLAN_CREDITS: '{"price_mine":10}',
    });
  });
});

describe('Function: invokeHandler', () => {
  it('returns the result and hands the handler a Lambda context', async () => {
    // Prepare
    const seen: string[] = [];

    // Act
    const outcome = await invokeHandler(
      async (event, context) => {
        seen.push(context.functionName, String(context.getRemainingTimeInMillis()));
        return { echoed: event };
      },
      { n: 1 },
      { functionName: 'credits', clock: () => 0 },
    );

    // Assess
    expect(outcome).toEqual({ ok: true, result: { echoed: { n: 1 } } });
    expect(seen).toEqual(['credits', String(15 * 60 * 1000)]);
  });

  it('reports a throw as errorType and errorMessage, as `aws lambda invoke` prints it', async () => {
    // Act
    const outcome = await invokeHandler(
      async () => {
        throw new InputError('customerId', 'required');
      },
      {},
      { functionName: 'credits' },
    );

    // Assess
    expect(JSON.parse(formatOutcome(outcome))).toEqual({
      errorType: 'InputError',
      errorMessage: 'customerId: required',
    });
  });

  it('prints null for a handler that returns nothing', () => {
    // Act & Assess
    expect(formatOutcome({ ok: true, result: undefined })).toBe('null\n');
  });
});

describe('Function: readableResult', () => {
  it("shows the webhook's JSON body as JSON, not as a string of it", () => {
    // Prepare
    const response = {
      statusCode: 200,
      headers: {},
      body: '{"received":true,"outcome":"applied"}',
    };

    // Act
    const shown = readableResult('stripeWebhook', response);

    // Assess
    expect(shown).toEqual({ ...response, body: { received: true, outcome: 'applied' } });
  });

  it('leaves a body that is not JSON, and the results of other functions, as they are', () => {
    // Prepare
    const text = { statusCode: 502, body: 'Bad Gateway' };
    const balance = { customerId: 'c', balance: 0, body: '{"a":1}' };

    // Act & Assess
    expect(readableResult('stripeWebhook', text)).toBe(text);
    expect(readableResult('credits', balance)).toBe(balance);
  });
});

describe('Function: describeHandlerError', () => {
  it("says the caller's bad input in one line, without a stack trace", () => {
    // Act
    const line = describeHandlerError('credits', new InputError('amount', 'must be at least 1'));

    // Assess
    expect(line).toBe('credits refused the input: InputError: amount: must be at least 1\n');
  });

  it('keeps the stack of a fault inside, for whoever debugs it', () => {
    // Act
    const text = describeHandlerError('rollover', new TypeError('x is undefined'));

    // Assess
    expect(text).toMatch(/^rollover failed: TypeError: x is undefined\n\s+at /);
  });
});

describe('Function: runInvoke', () => {
  function io(env: NodeJS.ProcessEnv) {
    const results: string[] = [];
    const logs: string[] = [];
    return {
      results,
      logs,
      io: {
        env,
        readStdin: noStdin,
        writeResult: async (text: string) => {
          results.push(text);
        },
        writeLog: (text: string) => {
          logs.push(text);
        },
      },
    };
  }

  it('exits 2 with the usage on stderr, and nothing on stdout, for bad JSON', async () => {
    // Prepare
    const run = io({});

    // Act
    const code = await runInvoke(['credits', "{'single': 'quotes'}"], run.io);

    // Assess
    expect(code).toBe(2);
    expect(run.results).toEqual([]);
    expect(run.logs.join('')).toMatch(/not valid JSON[\s\S]*usage: npm run invoke -- <function>/);
  });

  it('exits 1 and asks whether `npm start` is running when DynamoDB is not reachable', async () => {
    // Prepare: a port nothing listens on
    const run = io({ DYNAMODB_ENDPOINT: `http://127.0.0.1:${await freePort()}` });

    // Act
    const code = await runInvoke(['credits', '{"action":"balance","customerId":"c"}'], run.io);

    // Assess
    expect(code).toBe(1);
    expect(run.results).toEqual([]);
    expect(run.logs.join('')).toContain('Is `npm start` running?');
  });
});

describe('Function: routeStdoutToStderr', () => {
  it('sends console output of handlers and libraries to stderr, leaving stdout to the result', () => {
    // Prepare: a separate process, since the test runner owns this one's console
    const script = [
      "import { routeStdoutToStderr } from './infra/local/invoke';",
      'const writeResult = routeStdoutToStderr();',
      "console.log('log line'); console.info('info line'); process.stdout.write('raw line\\n');",
      'writeResult(\'{"result":1}\\n\').then(() => process.exit(0));',
    ].join('\n');

    // Act
    const child = spawnSync('node_modules/.bin/tsx', ['-e', script], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });

    // Assess
    expect(child.stdout).toBe('{"result":1}\n');
    expect(child.stderr).toContain('log line\ninfo line\nraw line\n');
  });
});
