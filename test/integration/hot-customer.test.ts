import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCreditsHandler } from '../../functions/credits';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { balanceOf, ledgerOf } from '../../lib/ledger/queries';
import type { SpendOutcome } from '../../lib/ledger/spending';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { faultyStore, type SeenRequest, sdkDefaultMaxAttempts } from '../support/faults';
import { freshTable, localClientConfig } from '../support/table';

/**
 * A hot customer: 200 concurrent spends of 1 credit, each with its own idempotency key,
 * against 10 credits, through the `credits` function on DynamoDB Local. Every spend reads the
 * lots, decides, and writes one transaction conditioned on the lot it takes from having
 * enough left (lib/store/transact.ts), so spends succeed together until the lot runs out and
 * only then lose and re-read. The client is the production one (the SDK's default retries and
 * delays); its transport only counts requests.
 */

const CUSTOMER = 'cus_hot';
const GRANTED_AT = '2026-03-01T08:00:00Z';
const NOW = '2026-03-10T12:00:00Z';
const SPENDS = 200;
const CREDITS = 10;
const LAMBDA_CONTEXT = {} as Context;

type SpendFigures = {
  readonly attemptsWorst: number;
  readonly attemptsMedian: number;
  readonly transactionsSent: number;
  readonly transactionsLost: number;
  readonly elapsedMs: number;
};

/** How many transactions each spend sent: one per optimistic attempt that got to write. */
function attemptsByKey(requests: readonly SeenRequest[]): Map<string, number> {
  const attempts = new Map<string, number>(
    Array.from({ length: SPENDS }, (_, index) => [`img-${index}`, 0]),
  );
  for (const request of requests) {
    if (request.operation !== 'TransactWriteItems' || request.attempt !== 1) continue;
    const key = /FACT#consume#(img-\d+)/.exec(request.body ?? '')?.[1];
    if (key) attempts.set(key, (attempts.get(key) ?? 0) + 1);
  }
  return attempts;
}

describe('A hot customer: 200 concurrent spends of 1 credit against 10 (C1, C15, C16)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let store: ReturnType<typeof faultyStore>;
  let deps: LedgerDeps;
  const statusOfTransactions: number[] = [];

  beforeAll(async () => {
    table = await freshTable('hot');
    store = faultyStore(table, localClientConfig(), {
      maxAttempts: await sdkDefaultMaxAttempts(),
      keepBodies: true,
    });
    store.faults.watch((seen, statusCode) => {
      if (seen.operation === 'TransactWriteItems') statusOfTransactions.push(statusCode);
    });
    deps = { ...store.deps, clock: () => Date.parse(NOW) };
    const granted = await grantSubscriptionInvoice(
      { ...table, clock: () => Date.parse(NOW) },
      {
        customerId: CUSTOMER,
        invoiceId: 'in_hot',
        subscriptionId: 'sub_hot',
        invoiceCreatedMs: Date.parse(GRANTED_AT),
        lines: [{ lineId: 'il_1', credits: CREDITS, periodStartMs: Date.parse(GRANTED_AT) }],
      },
    );
    expect(granted.status).toBe('applied');
  });
  afterAll(async () => {
    store.destroy();
    await table.drop();
  });

  it('C15 exactly 10 succeed, 190 are clean refusals, the ledger holds 10 consumptions, audit is clean', async () => {
    // Prepare
    const credits = createCreditsHandler(() => deps);
    const spend = (index: number) =>
      credits(
        {
          action: 'consume',
          customerId: CUSTOMER,
          amount: 1,
          idempotencyKey: `img-${index}`,
        },
        LAMBDA_CONTEXT,
      );
    store.faults.heal();

    // Act
    const startedMs = performance.now();
    const settled = await Promise.allSettled(
      Array.from({ length: SPENDS }, (_, index) => spend(index)),
    );
    const elapsedMs = Math.round(performance.now() - startedMs);

    // Assess: no exception at all (no ContentionError, no StoreError).
    const thrown = settled.filter((result) => result.status === 'rejected');
    expect(thrown.map((result) => String(result.reason))).toEqual([]);
    // A consume action answers a SpendOutcome (DESIGN.md); the type is the whole action union.
    const outcomes = settled.map((result) =>
      result.status === 'fulfilled' ? (result.value as SpendOutcome) : null,
    );
    const successes = outcomes.filter((outcome) => outcome?.ok === true);
    const refusals = outcomes.filter((outcome) => outcome?.ok !== true);
    expect(successes).toHaveLength(CREDITS);
    // Each success reports the balance its own spend left as it read the lots: at most 9, and
    // concurrent spends that read the same lots report the same balance (lib/credits/state.ts).
    for (const outcome of successes) {
      expect(outcome?.balance).toBeGreaterThanOrEqual(0);
      expect(outcome?.balance).toBeLessThan(CREDITS);
    }
    expect(refusals).toHaveLength(SPENDS - CREDITS);
    for (const refusal of refusals) {
      expect(refusal).toEqual({ ok: false, error: 'insufficient_credits', balance: 0 });
    }

    // Assess: the ledger and the balance, and the audit action (C13, C14).
    const { entries } = await ledgerOf(table, CUSTOMER, { limit: 1000 });
    const consumptions = entries.filter((entry) => entry.type === 'consumption');
    expect(consumptions).toHaveLength(CREDITS);
    expect(new Set(consumptions.map((entry) => entry.ref)).size).toBe(CREDITS);
    expect(consumptions.every((entry) => entry.amount === -1)).toBe(true);
    expect((await balanceOf(table, CUSTOMER, Date.parse(NOW))).balance).toBe(0);
    const audit = await credits(
      { action: 'audit', customerId: CUSTOMER, now: NOW },
      LAMBDA_CONTEXT,
    );
    expect(audit).toEqual({ checked: 1, problems: [] });

    // Figures for the README: how hard the optimistic locking had to work.
    const attempts = [...attemptsByKey(store.faults.requests).values()].sort((a, b) => a - b);
    expect(attempts).toHaveLength(SPENDS);
    const figures: SpendFigures = {
      attemptsWorst: attempts.at(-1) ?? 0,
      attemptsMedian: attempts[Math.floor(attempts.length / 2)] ?? 0,
      transactionsSent: statusOfTransactions.length,
      transactionsLost: statusOfTransactions.filter((status) => status !== 200).length,
      elapsedMs,
    };
    console.info(`hot customer: ${JSON.stringify(figures)}`);
    // Every won transaction is a success; every other one lost a race and was retried.
    expect(figures.transactionsSent - figures.transactionsLost).toBe(CREDITS);
    // The time budget (lib/store/call.ts) was never the limit: no spend gave up.
    expect(figures.attemptsWorst).toBeLessThan(40);
  });
});
