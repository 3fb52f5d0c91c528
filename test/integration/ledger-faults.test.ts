import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../lib/errors';
import { expireCustomer } from '../../lib/ledger/expiry';
import { balanceOf, ledgerOf } from '../../lib/ledger/queries';
import { consume } from '../../lib/ledger/spending';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import type { StoreDeps } from '../../lib/store/client';
import { FaultKind, faultyStore, tableItems } from '../support/faults';
import { freshTable, localClientConfig } from '../support/table';

const T0 = Date.parse('2026-01-31T10:00:00Z');
const DAY_MS = 86_400_000;

describe('Faults under the AWS SDK (issue 3: nothing half-applied, retry applies once)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let faulty: ReturnType<typeof faultyStore>;
  let customerSeq = 0;

  beforeAll(async () => {
    table = await freshTable('faults');
    faulty = faultyStore(table, localClientConfig(), { maxAttempts: 3 });
  });
  afterEach(() => faulty.faults.heal());
  afterAll(async () => {
    faulty.destroy();
    await table.drop();
  });

  /** A new customer holding `credits` from one invoice at T0, granted through healthy deps. */
  async function customerWith(credits: number): Promise<string> {
    customerSeq += 1;
    const customerId = `cus_fault_${customerSeq}`;
    await grantSubscriptionInvoice(
      { ...table, clock: () => T0 },
      {
        customerId,
        invoiceId: `in_${customerId}`,
        subscriptionId: `sub_${customerId}`,
        invoiceCreatedMs: T0,
        lines: [{ lineId: 'il_1', credits, periodStartMs: T0 }],
      },
    );
    return customerId;
  }

  const deps = (): StoreDeps & { clock: () => number } => ({
    ...faulty.deps,
    clock: () => T0 + DAY_MS,
  });

  async function consumptions(customerId: string) {
    const { entries } = await ledgerOf(table, customerId);
    return entries.filter((entry) => entry.type === 'consumption');
  }

  it.each([FaultKind.throttle, FaultKind.serverError, FaultKind.connectionReset])(
    'C15 a transient %s on TransactWriteItems is absorbed by the SDK retries',
    async (kind) => {
      // Prepare
      const customerId = await customerWith(10);
      faulty.faults.fail({ operation: 'TransactWriteItems', kind });

      // Act
      const outcome = await consume(deps(), { customerId, amount: 3, idempotencyKey: `k-${kind}` });

      // Assess: the first attempt failed, the SDK's second attempt went through, once.
      expect(outcome).toEqual({ ok: true, balance: 7 });
      const writes = faulty.faults.requests.filter((r) => r.operation === 'TransactWriteItems');
      expect(writes).toEqual([
        { operation: 'TransactWriteItems', attempt: 1, fault: kind },
        { operation: 'TransactWriteItems', attempt: 2 },
      ]);
      expect((await consumptions(customerId)).map((entry) => entry.amount)).toEqual([-3]);
    },
  );

  it('C15 a throttled Query (the read before the decision) is absorbed too', async () => {
    // Prepare
    const customerId = await customerWith(10);
    faulty.faults.fail({ operation: 'Query', kind: FaultKind.throttle, times: 2 });

    // Act
    const outcome = await consume(deps(), { customerId, amount: 10, idempotencyKey: 'k' });

    // Assess
    expect(outcome).toEqual({ ok: true, balance: 0 });
    expect(faulty.faults.requests.map((r) => [r.operation, r.attempt, r.fault])).toEqual([
      ['Query', 1, 'throttle'],
      ['Query', 2, 'throttle'],
      ['Query', 3, undefined],
      ['TransactWriteItems', 1, undefined],
    ]);
  });

  it('C15 a hard TransactWriteItems failure surfaces as StoreError, writes nothing, and the retry applies exactly once', async () => {
    // Prepare
    const customerId = await customerWith(10);
    const before = await tableItems(table);
    faulty.faults.fail({
      operation: 'TransactWriteItems',
      kind: FaultKind.serverError,
      times: Number.POSITIVE_INFINITY,
    });
    const request = { customerId, amount: 4, idempotencyKey: 'img-1' };

    // Act
    const failure = await consume(deps(), request).catch((error: unknown) => error);

    // Assess: a named fault (503, so callers retry), the SDK's error kept as its cause.
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).status).toBe(503);
    expect((failure as StoreError).cause).toMatchObject({
      name: 'InternalServerError',
      $metadata: { httpStatusCode: 500, attempts: 3 },
    });
    expect(await tableItems(table)).toEqual(before);

    // Act: the outage ends and the caller retries the same command, twice.
    faulty.faults.heal();
    const retried = await consume(deps(), request);
    const retriedAgain = await consume(deps(), request);

    // Assess
    expect(retried).toEqual({ ok: true, balance: 6 });
    expect(retriedAgain).toEqual(retried);
    expect((await consumptions(customerId)).map((entry) => entry.amount)).toEqual([-4]);
    expect((await balanceOf(table, customerId, T0 + DAY_MS)).balance).toBe(6);
  });

  it('C3 a grant whose transaction keeps failing writes nothing; the redelivery grants once', async () => {
    // Prepare
    const grant = {
      customerId: 'cus_fault_grant',
      invoiceId: 'in_fault_grant',
      subscriptionId: 'sub_fault_grant',
      invoiceCreatedMs: T0,
      lines: [{ lineId: 'il_1', credits: 500, periodStartMs: T0 }],
    };
    faulty.faults.fail({
      operation: 'TransactWriteItems',
      kind: FaultKind.throttle,
      times: Number.POSITIVE_INFINITY,
    });

    // Act
    const failure = await grantSubscriptionInvoice(deps(), grant).catch((error: unknown) => error);
    const afterFailure = await tableItems(table);
    faulty.faults.heal();
    const first = await grantSubscriptionInvoice(deps(), grant);
    const second = await grantSubscriptionInvoice(deps(), grant);

    // Assess
    expect(failure).toBeInstanceOf(StoreError);
    expect((failure as StoreError).cause).toMatchObject({ name: 'ThrottlingException' });
    expect(afterFailure.filter((item) => item.pk === 'CUST#cus_fault_grant')).toEqual([]);
    expect(first).toEqual({
      status: 'applied',
      outcome: { result: 'granted', credits: 500, balance: 500 },
    });
    expect(second).toEqual({ status: 'already_applied', outcome: first.outcome });
    const { entries } = await ledgerOf(table, 'cus_fault_grant');
    expect(entries.map((entry) => [entry.type, entry.amount])).toEqual([['grant', 500]]);
  });

  it('C15 C16 a response lost after DynamoDB applied the write is not applied twice by the SDK retry', async () => {
    // Prepare
    const customerId = await customerWith(10);
    faulty.faults.fail({ operation: 'TransactWriteItems', kind: FaultKind.responseLost });

    // Act
    const outcome = await consume(deps(), { customerId, amount: 3, idempotencyKey: 'lost-1' });

    // Assess: DynamoDB received the transaction twice (the SDK retried it). The SDK fills in
    // TransactWriteItems' ClientRequestToken once per call, so DynamoDB answers the retry as
    // the same transaction: it succeeds without a re-read, and the ledger holds the spend once.
    expect(outcome).toEqual({ ok: true, balance: 7 });
    expect(faulty.faults.requests).toEqual([
      { operation: 'Query', attempt: 1 },
      { operation: 'TransactWriteItems', attempt: 1, fault: 'response_lost' },
      { operation: 'TransactWriteItems', attempt: 2 },
    ]);
    expect((await consumptions(customerId)).map((entry) => entry.amount)).toEqual([-3]);
    expect((await balanceOf(table, customerId, T0 + DAY_MS)).balance).toBe(7);
  });

  it('C15 C16 every response lost: StoreError, the write stands once, and the retry returns the first outcome', async () => {
    // Prepare
    const customerId = await customerWith(10);
    faulty.faults.fail({
      operation: 'TransactWriteItems',
      kind: FaultKind.responseLost,
      times: Number.POSITIVE_INFINITY,
    });
    const request = { customerId, amount: 3, idempotencyKey: 'lost-2' };

    // Act
    const failure = await consume(deps(), request).catch((error: unknown) => error);
    faulty.faults.heal();
    // The caller cannot know the write happened, so it retries; someone spends meanwhile.
    await consume(table, { customerId, amount: 1, idempotencyKey: 'other', atMs: T0 + DAY_MS });
    const retried = await consume(deps(), request);

    // Assess
    expect(failure).toBeInstanceOf(StoreError);
    expect(retried).toEqual({ ok: true, balance: 7 });
    expect((await consumptions(customerId)).map((entry) => [entry.ref, entry.amount])).toEqual([
      ['other', -1],
      ['lost-2', -3],
    ]);
    expect((await balanceOf(table, customerId, T0 + DAY_MS)).balance).toBe(6);
  });

  it('C6 an expiry run that fails on its read writes nothing and a rerun expires once', async () => {
    // Prepare: the lot granted at T0 expires on 30 Apr.
    const customerId = await customerWith(10);
    const atMs = Date.parse('2026-05-01T00:00:00Z');
    const before = await tableItems(table);
    faulty.faults.fail({
      operation: 'Query',
      kind: FaultKind.connectionReset,
      times: Number.POSITIVE_INFINITY,
    });

    // Act
    const failure = await expireCustomer(faulty.deps, customerId, atMs).catch((e: unknown) => e);
    const untouched = await tableItems(table);
    faulty.faults.heal();
    const first = await expireCustomer(faulty.deps, customerId, atMs);
    const rerun = await expireCustomer(faulty.deps, customerId, atMs);

    // Assess
    expect(failure).toBeInstanceOf(StoreError);
    expect(untouched).toEqual(before);
    expect(first).toEqual({ status: 'applied', outcome: { expiredLots: 1, expiredCredits: 10 } });
    expect(rerun).toEqual({ status: 'refused', outcome: { expiredLots: 0, expiredCredits: 0 } });
    const { entries } = await ledgerOf(table, customerId);
    expect(entries.map((entry) => [entry.type, entry.amount, entry.balanceAfter])).toEqual([
      ['expiry', -10, 0],
      ['grant', 10, 10],
    ]);
  });
});
