import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCreditsHandler } from '../../functions/credits';
import { InputError } from '../../lib/errors';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { tableItems } from '../support/faults';
import { freshTable } from '../support/table';

const ms = (iso: string) => Date.parse(iso);
/** The deps' clock: what "now" is when a request does not say. */
const CLOCK = ms('2026-02-20T12:00:00Z');

/** An invocation the way Lambda makes it: event and context. */
const context = {
  functionName: 'credits',
  awsRequestId: 'test-request',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

/** The handler's result as the caller receives it: serialised to JSON and back. */
async function invoke(handler: ReturnType<typeof createCreditsHandler>, event: unknown) {
  const result = await handler(event, context);
  return JSON.parse(JSON.stringify(result)) as unknown;
}

async function fieldOfFailure(
  handler: ReturnType<typeof createCreditsHandler>,
  event: unknown,
): Promise<{ field: string; status: number; message: string }> {
  const failure = await handler(event, context).then(
    () => {
      throw new Error(`expected ${JSON.stringify(event)} to be refused`);
    },
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(InputError);
  const { field, status, message } = failure as InputError;
  return { field, status, message };
}

describe('Function: credits (functions/credits.ts through its handler)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let handler: ReturnType<typeof createCreditsHandler>;

  beforeAll(async () => {
    table = await freshTable('credits-fn');
    // DynamoDB Local: writes may run as of a `now` (DESIGN.md's as-of rule).
    const deps: LedgerDeps = { ...table, clock: () => CLOCK };
    handler = createCreditsHandler(() => ({ ...deps, asOfWrites: true }));
    // cus_1: 100 credits from 31 Jan (expiring 30 Apr, C4) and 50 from 10 Feb (expiring 10 May).
    for (const [invoiceId, credits, start] of [
      ['in_jan', 100, '2026-01-31T10:00:00Z'],
      ['in_feb', 50, '2026-02-10T10:00:00Z'],
    ] as const) {
      await grantSubscriptionInvoice(deps, {
        customerId: 'cus_1',
        invoiceId,
        subscriptionId: 'sub_1',
        invoiceCreatedMs: ms(start),
        lines: [{ lineId: 'il_1', credits, periodStartMs: ms(start) }],
      });
    }
  });
  afterAll(async () => table.drop());

  it('C5 C6 balance: the balance and lots in burn order, as of the clock or of `now`', async () => {
    // Act
    const current = await invoke(handler, { action: 'balance', customerId: 'cus_fresh_bal' });
    const asOfMay = await invoke(handler, {
      action: 'balance',
      customerId: 'cus_1',
      now: '2026-05-01T00:00:00Z',
    });
    const asOfFeb = await invoke(handler, {
      action: 'balance',
      customerId: 'cus_1',
      now: '2026-02-21T00:00:00+01:00',
    });

    // Assess
    expect(current).toEqual({
      customerId: 'cus_fresh_bal',
      balance: 0,
      held: 0,
      debt: 0,
      lots: [],
      upcoming: [],
    });
    expect(asOfMay).toEqual({
      customerId: 'cus_1',
      balance: 50,
      held: 0,
      debt: 0,
      lots: [
        {
          source: 'subscription',
          granted: 50,
          remaining: 50,
          grantedAt: '2026-02-10T10:00:00.000Z',
          expiresAt: '2026-05-10T10:00:00.000Z',
        },
      ],
      upcoming: [],
    });
    expect(asOfFeb).toMatchObject({ customerId: 'cus_1', balance: 150 });
    expect((asOfFeb as { lots: { expiresAt: string }[] }).lots.map((l) => l.expiresAt)).toEqual([
      '2026-04-30T10:00:00.000Z',
      '2026-05-10T10:00:00.000Z',
    ]);
  });

  it('C15 consume: {ok, balance}; a retry returns the first result; too much is insufficient_credits', async () => {
    // Prepare
    await invoke(handler, {
      action: 'adjust',
      customerId: 'cus_2',
      amount: 10,
      reason: 'trial credits',
      idempotencyKey: 'ops-trial',
    });
    const spend = { action: 'consume', customerId: 'cus_2', amount: 4, idempotencyKey: 'img-1' };

    // Act
    const first = await invoke(handler, spend);
    const retry = await invoke(handler, spend);
    const tooMuch = await invoke(handler, {
      action: 'consume',
      customerId: 'cus_2',
      amount: 7,
      idempotencyKey: 'img-2',
    });
    const conflict = await invoke(handler, { ...spend, amount: 5 });

    // Assess
    expect(first).toEqual({ ok: true, balance: 6 });
    expect(retry).toEqual({ ok: true, balance: 6 });
    expect(tooMuch).toEqual({ ok: false, error: 'insufficient_credits', balance: 6 });
    expect(conflict).toEqual({ ok: false, error: 'idempotency_conflict' });
  });

  it('C6 consume with `now` after a lot expired cannot use that lot', async () => {
    // Act: on 1 May only February's 50 are alive (January's expired 30 Apr).
    const outcome = await invoke(handler, {
      action: 'consume',
      customerId: 'cus_1',
      amount: 51,
      idempotencyKey: 'img-may',
      now: '2026-05-01T00:00:00Z',
    });

    // Assess
    expect(outcome).toEqual({ ok: false, error: 'insufficient_credits', balance: 50 });
  });

  it('C13 ledger: entries newest first with type, amount, balanceAfter, at, ref', async () => {
    // Prepare
    await invoke(handler, {
      action: 'adjust',
      customerId: 'cus_3',
      amount: 20,
      reason: 'goodwill',
      idempotencyKey: 'ops-1',
    });
    await invoke(handler, {
      action: 'consume',
      customerId: 'cus_3',
      amount: 3,
      idempotencyKey: 'i1',
    });

    // Act
    const ledger = await invoke(handler, { action: 'ledger', customerId: 'cus_3' });
    const firstPage = await invoke(handler, { action: 'ledger', customerId: 'cus_3', limit: 1 });
    const { nextCursor } = firstPage as { nextCursor: string };
    const secondPage = await invoke(handler, {
      action: 'ledger',
      customerId: 'cus_3',
      limit: 1,
      cursor: nextCursor,
    });
    const unknown = await invoke(handler, { action: 'ledger', customerId: 'cus_nobody' });

    // Assess
    const consumption = {
      type: 'consumption',
      amount: -3,
      balanceAfter: 17,
      at: '2026-02-20T12:00:00.000Z',
      ref: 'i1',
    };
    const adjustment = {
      type: 'adjustment',
      amount: 20,
      balanceAfter: 20,
      at: '2026-02-20T12:00:00.000Z',
      ref: 'ops-1',
      reason: 'goodwill',
    };
    expect(ledger).toEqual({ entries: [consumption, adjustment] });
    expect(firstPage).toEqual({ entries: [consumption], nextCursor: expect.any(String) });
    expect((secondPage as { entries: unknown[] }).entries).toEqual([adjustment]);
    expect(unknown).toEqual({ entries: [] });
  });

  it('C9 referralCode: one code per customer, the same on every request', async () => {
    // Act
    const first = await invoke(handler, { action: 'referralCode', customerId: 'cus_4' });
    const again = await invoke(handler, { action: 'referralCode', customerId: 'cus_4' });
    const other = await invoke(handler, { action: 'referralCode', customerId: 'cus_5' });

    // Assess
    expect(first).toEqual({
      code: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/),
    });
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it('C4 C13 adjust: {ok, balance}; a positive lot expires 3 months after `at`; negative burns; too negative refused', async () => {
    // Act
    const added = await invoke(handler, {
      action: 'adjust',
      customerId: 'cus_6',
      amount: 30,
      reason: 'support ticket 7',
      idempotencyKey: 'ops-a',
      at: '2026-01-31T15:00:00Z',
    });
    const replay = await invoke(handler, {
      action: 'adjust',
      customerId: 'cus_6',
      amount: 30,
      reason: 'support ticket 7',
      idempotencyKey: 'ops-a',
      at: '2026-01-31T15:00:00Z',
    });
    const taken = await invoke(handler, {
      action: 'adjust',
      customerId: 'cus_6',
      amount: -12,
      reason: 'chargeback',
      idempotencyKey: 'ops-b',
    });
    const tooMuch = await invoke(handler, {
      action: 'adjust',
      customerId: 'cus_6',
      amount: -19,
      reason: 'chargeback',
      idempotencyKey: 'ops-c',
    });
    const view = await invoke(handler, { action: 'balance', customerId: 'cus_6' });

    // Assess
    expect(added).toEqual({ ok: true, balance: 30 });
    expect(replay).toEqual(added);
    expect(taken).toEqual({ ok: true, balance: 18 });
    expect(tooMuch).toEqual({ ok: false, error: 'insufficient_credits', balance: 18 });
    expect(view).toEqual({
      customerId: 'cus_6',
      balance: 18,
      held: 0,
      debt: 0,
      lots: [
        {
          source: 'adjustment',
          granted: 30,
          remaining: 18,
          grantedAt: '2026-01-31T15:00:00.000Z',
          expiresAt: '2026-04-30T15:00:00.000Z',
        },
      ],
      upcoming: [],
    });
  });
});

describe('Function: credits, bad input (nothing written)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let handler: ReturnType<typeof createCreditsHandler>;

  beforeAll(async () => {
    table = await freshTable('credits-fn-bad');
    handler = createCreditsHandler(() => ({ ...table, clock: () => CLOCK }));
  });
  afterAll(async () => table.drop());

  const consume = { action: 'consume', customerId: 'cus_1', amount: 1, idempotencyKey: 'k1' };
  const adjust = {
    action: 'adjust',
    customerId: 'cus_1',
    amount: 5,
    reason: 'goodwill',
    idempotencyKey: 'ops-1',
  };

  it.each([
    ['missing customerId', { action: 'consume', amount: 1, idempotencyKey: 'k' }, 'customerId'],
    ['blank customerId', { ...consume, customerId: '  ' }, 'customerId'],
    ['balance without customerId', { action: 'balance' }, 'customerId'],
    ['amount -1 (C1)', { ...consume, amount: -1 }, 'amount'],
    ['amount 0', { ...consume, amount: 0 }, 'amount'],
    ['amount 1.5 (C1: whole credits)', { ...consume, amount: 1.5 }, 'amount'],
    ['amount "3" (a string)', { ...consume, amount: '3' }, 'amount'],
    ['missing amount', { action: 'consume', customerId: 'cus_1', idempotencyKey: 'k' }, 'amount'],
    [
      'missing idempotencyKey',
      { action: 'consume', customerId: 'cus_1', amount: 1 },
      'idempotencyKey',
    ],
    ['unknown action', { action: 'refund', customerId: 'cus_1' }, 'action'],
    ['missing action', { customerId: 'cus_1' }, 'action'],
    ['adjust without reason', { ...adjust, reason: undefined }, 'reason'],
    ['adjust with a blank reason', { ...adjust, reason: ' ' }, 'reason'],
    ['adjust amount 0', { ...adjust, amount: 0 }, 'amount'],
    ['adjust amount 2.5', { ...adjust, amount: 2.5 }, 'amount'],
    ['adjust without idempotencyKey', { ...adjust, idempotencyKey: undefined }, 'idempotencyKey'],
    ['adjust with a bad `at`', { ...adjust, at: 'yesterday' }, 'at'],
    ['bad `now` on consume', { ...consume, now: '2026-13-01T00:00:00Z' }, 'now'],
    ['bad `now` on balance', { action: 'balance', customerId: 'cus_1', now: 'now' }, 'now'],
    ['a date without a time as `now`', { ...consume, now: '2026-02-20' }, 'now'],
    ['ledger limit 0', { action: 'ledger', customerId: 'cus_1', limit: 0 }, 'limit'],
    [
      'a cursor that is no cursor',
      { action: 'ledger', customerId: 'cus_1', cursor: 'bm9wZQ' },
      'cursor',
    ],
    ['null', null, 'input'],
    ['an array', [consume], 'input'],
    ['a string', 'consume', 'input'],
  ])('%s -> an error naming %s, status 400, nothing written', async (_name, event, field) => {
    // Act
    const failure = await fieldOfFailure(handler, event);

    // Assess
    expect(failure.field).toBe(field);
    expect(failure.status).toBe(400);
    expect(failure.message.startsWith(`${field}: `)).toBe(true);
    expect(await tableItems(table)).toEqual([]);
  });
});
