import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb';
import {
  invoke,
  REPO_ROOT,
  type Run,
  runScript,
  type Stack,
  startStack,
  stopStack,
} from '../support/local-stack';

/**
 * `npm run trigger` against a running `npm start` with no configuration at all (the sample
 * catalog, the local webhook secret), as a stranger would try it; and the committed examples
 * through `npm run invoke -- backfill -`.
 */

type Answer = { status: number; body: Record<string, unknown> };

/** The webhook's answers, from the `<- 200 {...}` lines the trigger prints. */
function answers(run: Run): Answer[] {
  return [...run.stdout.matchAll(/^<- (\d{3}) (.*)$/gm)].map((match) => ({
    status: Number(match[1]),
    body: JSON.parse(match[2] as string) as Record<string, unknown>,
  }));
}

function balanceLine(run: Run, customerId: string): string | undefined {
  return run.stdout.split('\n').find((line) => line.startsWith(`balance of ${customerId}: `));
}

describe('npm run trigger', () => {
  let stack: Stack | undefined;
  let env: Record<string, string>;
  const trigger = (...args: string[]) => runScript('infra/local/trigger.ts', args, { env });

  beforeAll(async () => {
    stack = await startStack();
    env = { PORT: String(stack.port), DYNAMODB_PORT: String(stack.dynamoDbPort) };
  });
  afterAll(async () => stopStack(stack));

  it('subscribe: the invoice is granted and the balance afterwards is the plan (C2, C3)', async () => {
    // Act
    const run = await trigger('subscribe', '--customer', 'cus_trig_amy');

    // Assess
    expect(run.code).toBe(0);
    expect(answers(run)).toEqual([
      { status: 200, body: expect.objectContaining({ type: 'invoice.paid', outcome: 'applied' }) },
    ]);
    expect(balanceLine(run, 'cus_trig_amy')).toMatch(
      /^balance of cus_trig_amy: 100 \(100\/100 subscription until /,
    );
  });

  it("referral: the referrer's code is looked up, and both sides get half the plan (C10, C11)", async () => {
    // Prepare
    await trigger('subscribe', '--customer', 'cus_trig_ref');

    // Act
    const run = await trigger(
      'referral',
      '--customer',
      'cus_trig_new',
      '--referrer',
      'cus_trig_ref',
      '--price',
      'price_pro_monthly',
    );

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^referral code of cus_trig_ref: [0-9A-Z]{5}-[0-9A-Z]{5}$/m);
    expect(balanceLine(run, 'cus_trig_new')).toMatch(/: 750 /);
    expect(balanceLine(run, 'cus_trig_ref')).toMatch(/: 350 /);
  });

  it('renew, then cancel: the renewal adds a month, the end forfeits what is left (C7)', async () => {
    // Prepare
    await trigger('subscribe', '--customer', 'cus_trig_bo');

    // Act
    const renewed = await trigger('renew', '--customer', 'cus_trig_bo');
    const cancelled = await trigger('cancel', '--customer', 'cus_trig_bo');

    // Assess
    expect(balanceLine(renewed, 'cus_trig_bo')).toMatch(/: 200 /);
    expect(answers(cancelled)).toEqual([
      { status: 200, body: expect.objectContaining({ outcome: 'applied' }) },
    ]);
    expect(balanceLine(cancelled, 'cus_trig_bo')).toBe('balance of cus_trig_bo: 0');
  });

  it('trial, then renew: the $0 trial grants the plan, the first paid period grants again (C18)', async () => {
    // Act
    const trial = await trigger('trial', '--customer', 'cus_trig_tia');
    const renewed = await trigger('renew', '--customer', 'cus_trig_tia');

    // Assess
    expect(answers(trial)).toEqual([
      { status: 200, body: expect.objectContaining({ outcome: 'applied' }) },
    ]);
    expect(balanceLine(trial, 'cus_trig_tia')).toMatch(/: 100 /);
    expect(balanceLine(renewed, 'cus_trig_tia')).toMatch(/: 200 /);
  });

  it('annual: a yearly plan grants this month now and shows eleven months upcoming (C20)', async () => {
    // Act
    const run = await trigger('annual', '--customer', 'cus_trig_ann');

    // Assess
    expect(run.code).toBe(0);
    const line = balanceLine(run, 'cus_trig_ann') ?? '';
    expect(line).toMatch(/^balance of cus_trig_ann: 100 \(/);
    expect(line.match(/100 subscription upcoming/g)).toHaveLength(11);
  });

  it.each([
    ['refund', 'cus_trig_rf', /: 0$/],
    ['partial-refund', 'cus_trig_prf', /: 50 \(50\/100 subscription /],
    ['dispute-lost', 'cus_trig_dl', /: 0$/],
    ['dispute-won', 'cus_trig_dw', /: 100 \(100\/100 subscription /],
  ])(
    'subscribe, then %s: the credits go back in proportion, or come back (C22, C23)',
    async (scenario, customer, balance) => {
      // Prepare
      await trigger('subscribe', '--customer', customer);

      // Act
      const run = await trigger(scenario, '--customer', customer);

      // Assess
      expect(run.code).toBe(0);
      expect(answers(run).map((answer) => answer.body.outcome)).toContain('applied');
      expect(balanceLine(run, customer)).toMatch(balance);
    },
  );

  it('subscribe, spend, refund: what was spent is debt, and the renewal repays it first (C23)', async () => {
    // Prepare
    await trigger('subscribe', '--customer', 'cus_trig_debt');
    const spent = await invoke(
      [
        'credits',
        '{"action":"consume","customerId":"cus_trig_debt","amount":30,"idempotencyKey":"img-1"}',
      ],
      env,
    );
    expect(spent.code).toBe(0);

    // Act
    const refunded = await trigger('refund', '--customer', 'cus_trig_debt');
    const renewed = await trigger('renew', '--customer', 'cus_trig_debt');

    // Assess
    expect(balanceLine(refunded, 'cus_trig_debt')).toBe('balance of cus_trig_debt: 0 (debt 30)');
    expect(balanceLine(renewed, 'cus_trig_debt')).toMatch(
      /^balance of cus_trig_debt: 70 \(70\/100 /,
    );
  });

  it.each([
    ['upgrade', 1],
    ['pack', 2],
    ['refund', 2],
    ['partial-refund', 2],
    ['dispute-lost', 2],
    ['dispute-won', 3],
  ])(
    '%s: every event is delivered and acknowledged, whatever the processor makes of it',
    async (scenario, count) => {
      // Act
      const run = await trigger(scenario, '--customer', 'cus_trig_cy');

      // Assess
      expect(run.code).toBe(0);
      expect(answers(run).map((answer) => answer.status)).toEqual(Array(count).fill(200));
      expect(balanceLine(run, 'cus_trig_cy')).toBeDefined();
    },
  );

  it('exits 1 and shows the 500 when the price is in no catalog (C2)', async () => {
    // Act
    const run = await trigger(
      'subscribe',
      '--customer',
      'cus_trig_dee',
      '--price',
      'price_nowhere',
    );

    // Assess
    expect(run.code).toBe(1);
    expect(answers(run).map((answer) => answer.status)).toEqual([500]);
  });

  it('says so when npm start is not running', async () => {
    // Act
    const run = await runScript('infra/local/trigger.ts', ['subscribe'], {
      env: { PORT: String(await freePort()), DYNAMODB_PORT: String(await freePort()) },
    });

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Is `npm start` running?');
  });

  it('--print writes events that backfill accepts', async () => {
    // Prepare
    const printed = await trigger('subscribe', '--customer', 'cus_trig_eve', '--print');

    // Act
    const replayed = await invoke(['backfill', '-'], env, printed.stdout);

    // Assess
    expect(replayed.code).toBe(0);
    expect(JSON.parse(replayed.stdout)).toMatchObject({ processed: 1, applied: 1, failed: 0 });
  });

  it.each(readdirSync(join(REPO_ROOT, 'examples')).filter((file) => file.endsWith('.json')))(
    'examples/%s replays through npm run invoke -- backfill - with no failure',
    async (file) => {
      // Act
      const stdin = readFileSync(join(REPO_ROOT, 'examples', file), 'utf8');
      const run = await invoke(['backfill', '-'], env, stdin);

      // Assess
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ failed: 0, failures: [] });
    },
  );
});
