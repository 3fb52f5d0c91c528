import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { expireCustomer } from '../../lib/ledger/expiry';
import { balanceOf, type LedgerEntryView, ledgerOf, readCustomer } from '../../lib/ledger/queries';
import { adjust, consume } from '../../lib/ledger/spending';
import { endSubscription, grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import type { StoreDeps } from '../../lib/store/client';
import { CreditsModel, type ModelGrant, type ModelLot } from '../support/model';
import { freshTable } from '../support/table';

/**
 * Model-based test: random sequences of grants, spends, adjustments, expiry runs, subscription
 * ends, replays and clock advances, applied to the real ledger on DynamoDB Local and to the
 * plain reference model of test/support/model.ts. After every step the two must agree on the
 * step's outcome and on every customer's spendable balance, and the real store must satisfy
 * C13/C14. PROPERTY_RUNS raises the number of sequences; PROPERTY_SEED replays one.
 */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 30);
const SEED =
  process.env.PROPERTY_SEED === undefined ? undefined : Number(process.env.PROPERTY_SEED);
const MAX_STEPS = 25;
/** A run takes well under a second against DynamoDB Local; leave room on a busy machine. */
const TIMEOUT_MS = 60_000 + RUNS * 1_000;
const HOUR_MS = 3_600_000;

/** `of` picks an earlier operation of the same kind (modulo how many there were). */
type Replay = { of: number; altered: boolean };

type Op =
  | {
      kind: 'grant';
      customer: number;
      subscription: number;
      credits: number[];
      startHoursAgo: number;
      replay?: Replay;
    }
  | { kind: 'consume'; customer: number; amount: number; retry?: Replay }
  | { kind: 'adjust'; customer: number; amount: number; retry?: Replay }
  | { kind: 'expire'; customer: number }
  | { kind: 'end'; customer: number; subscription: number; endedHoursAgo: number; replay?: Replay }
  | { kind: 'advance'; hours: number }
  /** Moves the clock exactly onto the next expiry of one of the customer's lots (C6's edge). */
  | { kind: 'advanceToExpiry'; customer: number };

const customer = fc.nat({ max: 2 });
/** A quarter of requests repeat an earlier one (a third of those with altered data). */
const replay: fc.Arbitrary<Replay | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.record({
      of: fc.nat({ max: 20 }),
      altered: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, fc.constant(true)),
    }),
  },
);
/** Now, whole days ago (equal times of day: C4 ties like 30 and 31 Jan -> 30 Apr), or hours. */
const hoursAgo = fc.oneof(fc.constant(0), fc.constantFrom(24, 48, 72), fc.nat({ max: 72 }));

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('grant' as const),
      customer,
      subscription: fc.nat({ max: 2 }),
      credits: fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 2 }),
      startHoursAgo: hoursAgo,
      replay,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('consume' as const),
      customer,
      amount: fc.integer({ min: 1, max: 300 }),
      retry: replay,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('adjust' as const),
      customer,
      amount: fc.integer({ min: -150, max: 150 }).filter((amount) => amount !== 0),
      retry: replay,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('expire' as const), customer }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('end' as const),
      customer,
      subscription: fc.nat({ max: 2 }),
      endedHoursAgo: hoursAgo,
      replay,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advanceToExpiry' as const), customer }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      // Hours, days, or months.
      hours: fc.oneof(
        fc.integer({ min: 1, max: 23 }),
        fc.integer({ min: 24, max: 24 * 20 }),
        fc.integer({ min: 24 * 25, max: 24 * 100 }),
      ),
    }),
  },
);

/** Where the clock starts: often at a month's end, where C4's clamping shows; else anywhere. */
const startMs = fc.oneof(
  fc
    .constantFrom(
      '2026-01-31T10:00:00Z', // 30 and 31 Jan both expire 30 Apr
      '2027-11-30T08:00:00Z', // -> 29 Feb 2028 (leap year)
      '2026-11-30T08:00:00Z', // -> 28 Feb 2027
      '2026-05-31T23:00:00Z', // -> 31 Aug
      '2026-03-31T12:00:00Z', // -> 30 Jun
      '2026-12-31T00:00:00Z', // -> 31 Mar next year
    )
    .map((iso) => Date.parse(iso)),
  fc
    .integer({ min: 0, max: 3 * 365 * 24 })
    .map((hours) => Date.parse('2026-01-01T00:00:00Z') + hours * HOUR_MS),
);

const scenario = fc.record({
  startMs,
  // One customer half the time, so that its operations interact more.
  customers: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 3 })),
  // size 'max': lengths spread over 1..MAX_STEPS (fast-check's default stops near 12).
  ops: fc.array(opArbitrary, { minLength: 1, maxLength: MAX_STEPS, size: 'max' }),
});

/** The requests a run has made so far, so that replays can repeat (or alter) them. */
type History = {
  grants: { customerId: string; grant: ModelGrant }[];
  consumes: { customerId: string; amount: number; key: string }[];
  adjusts: { customerId: string; amount: number; reason: string; key: string; atMs: number }[];
  ends: { customerId: string; subscriptionId: string; endedAtMs: number }[];
};

function pick<T>(list: readonly T[], replayOf: Replay | undefined): T | undefined {
  return replayOf && list.length > 0 ? list[replayOf.of % list.length] : undefined;
}

/** Everything in the ledger, oldest first. */
async function wholeLedger(deps: StoreDeps, customerId: string): Promise<LedgerEntryView[]> {
  const entries: LedgerEntryView[] = [];
  let cursor: string | undefined;
  do {
    const page = await ledgerOf(deps, customerId, { limit: 50, ...(cursor && { cursor }) });
    entries.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor);
  return entries.reverse();
}

/** The customer's lots as stored, in the model's terms (forfeited records have nothing left). */
async function storedLots(deps: StoreDeps, customerId: string): Promise<ModelLot[]> {
  const state = await readCustomer(deps, customerId);
  return state.lots
    .filter((lot) => lot.remaining > 0 || !lot.forfeit)
    .map((lot) => ({
      id: lot.id,
      granted: lot.granted,
      remaining: lot.remaining,
      grantedAtMs: lot.grantedAtMs,
      expiresAtMs: lot.expiresAtMs,
    }));
}

/** C13/C14 on the real store for one customer at `nowMs`. */
async function checkInvariants(
  deps: StoreDeps,
  customerId: string,
  nowMs: number,
  expiryJustRan: boolean,
) {
  const lots = await storedLots(deps, customerId);
  const entries = await wholeLedger(deps, customerId);
  const view = await balanceOf(deps, customerId, nowMs);
  let bookSum = 0;
  let aliveSum = 0;
  for (const lot of lots) {
    // C14: a lot's remaining credit is never below 0 nor above what it granted.
    expect(lot.remaining).toBeGreaterThanOrEqual(0);
    expect(lot.remaining).toBeLessThanOrEqual(lot.granted);
    bookSum += lot.remaining;
    if (nowMs < lot.expiresAtMs) aliveSum += lot.remaining;
  }
  // C14: the balance as of now is the remaining credit of the lots unexpired now.
  expect(view.balance).toBe(aliveSum);
  // C13: each entry's balanceAfter is the running sum; C1: never negative.
  let running = 0;
  for (const entry of entries) {
    running += entry.amount;
    expect(entry.balanceAfter).toBe(running);
    expect(entry.balanceAfter).toBeGreaterThanOrEqual(0);
  }
  // C14: the ledger explains the lots exactly.
  expect(running).toBe(bookSum);
  // C14: once the expiry job has run for now, the ledger's sum is the balance.
  if (expiryJustRan) expect(running).toBe(view.balance);
  return lots.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Applies one op to both systems and returns what each said. */
async function step(
  op: Op,
  index: number,
  ctx: {
    deps: LedgerDeps;
    model: CreditsModel;
    history: History;
    customerIds: string[];
    nowMs: number;
  },
): Promise<{ real: unknown; model: unknown; customerId?: string }> {
  const { deps, model, history, nowMs } = ctx;
  const who = (n: number) => ctx.customerIds[n % ctx.customerIds.length] as string;
  switch (op.kind) {
    case 'grant': {
      const earlier = pick(history.grants, op.replay);
      const customerId = earlier?.customerId ?? who(op.customer);
      const grant: ModelGrant = earlier
        ? op.replay?.altered
          ? {
              ...earlier.grant,
              lines: earlier.grant.lines.map((line, i) =>
                i === 0 ? { ...line, credits: line.credits + 1 } : line,
              ),
            }
          : earlier.grant
        : {
            invoiceId: `in_${index}`,
            subscriptionId: `sub_${customerId}_${op.subscription}`,
            lines: op.credits.map((credits, i) => ({
              lineId: `il_${i}`,
              credits,
              periodStartMs: nowMs - op.startHoursAgo * HOUR_MS,
            })),
          };
      if (!earlier) history.grants.push({ customerId, grant });
      const real = await grantSubscriptionInvoice(deps, {
        customerId,
        invoiceId: grant.invoiceId,
        subscriptionId: grant.subscriptionId,
        invoiceCreatedMs: grant.lines[0]?.periodStartMs ?? nowMs,
        lines: grant.lines,
      });
      return { real, model: model.grant(customerId, grant, nowMs), customerId };
    }
    case 'consume': {
      const earlier = pick(history.consumes, op.retry);
      const request = earlier
        ? { ...earlier, amount: earlier.amount + (op.retry?.altered ? 1 : 0) }
        : { customerId: who(op.customer), amount: op.amount, key: `img-${index}` };
      if (!earlier) history.consumes.push(request);
      const real = await consume(deps, {
        customerId: request.customerId,
        amount: request.amount,
        idempotencyKey: request.key,
        atMs: nowMs,
      });
      const expected = model.consume(request.customerId, request.amount, request.key, nowMs);
      return { real, model: expected, customerId: request.customerId };
    }
    case 'adjust': {
      const earlier = pick(history.adjusts, op.retry);
      const request = earlier
        ? { ...earlier, reason: op.retry?.altered ? 'changed mind' : earlier.reason }
        : {
            customerId: who(op.customer),
            amount: op.amount,
            reason: 'model test',
            key: `ops-${index}`,
            atMs: nowMs,
          };
      if (!earlier) history.adjusts.push(request);
      const real = await adjust(deps, {
        customerId: request.customerId,
        amount: request.amount,
        reason: request.reason,
        idempotencyKey: request.key,
        atMs: request.atMs,
      });
      const expected = model.adjust(request.customerId, request, nowMs);
      return { real, model: expected, customerId: request.customerId };
    }
    case 'expire': {
      const customerId = who(op.customer);
      const real = await expireCustomer(deps, customerId, nowMs);
      return { real, model: model.expire(customerId, nowMs), customerId };
    }
    case 'end': {
      const earlier = pick(history.ends, op.replay);
      const end = earlier
        ? { ...earlier, endedAtMs: earlier.endedAtMs + (op.replay?.altered ? HOUR_MS : 0) }
        : {
            customerId: who(op.customer),
            subscriptionId: `sub_${who(op.customer)}_${op.subscription}`,
            endedAtMs: nowMs - op.endedHoursAgo * HOUR_MS,
          };
      if (!earlier) history.ends.push(end);
      const real = await endSubscription(deps, end);
      const expected = model.end(end.customerId, end.subscriptionId, end.endedAtMs, nowMs);
      return { real, model: expected, customerId: end.customerId };
    }
    case 'advance':
    case 'advanceToExpiry':
      return { real: null, model: null };
  }
}

describe('Property: the ledger on DynamoDB Local behaves like the reference model', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let runNumber = 0;

  beforeAll(async () => {
    table = await freshTable('property');
  });
  afterAll(async () => table.drop());

  it(
    `C1 C3-C8 C13-C15 agree with the model after every step (${RUNS} runs of up to ${MAX_STEPS} steps)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async ({ startMs, customers, ops }) => {
          // Prepare: new customer ids per run (fast-check reruns while shrinking).
          runNumber += 1;
          const customerIds = Array.from({ length: customers }, (_, i) => `r${runNumber}c${i}`);
          let nowMs = startMs;
          const deps: LedgerDeps = { ...table, clock: () => nowMs };
          const model = new CreditsModel();
          const history: History = { grants: [], consumes: [], adjusts: [], ends: [] };

          for (const [index, op] of ops.entries()) {
            if (op.kind === 'advance') nowMs += op.hours * HOUR_MS;
            if (op.kind === 'advanceToExpiry') {
              const customerId = customerIds[op.customer % customerIds.length] as string;
              nowMs = model.nextExpiryAfter(customerId, nowMs) ?? nowMs;
            }
            // Act
            const said = await step(op, index, { deps, model, history, customerIds, nowMs });

            // Assess
            const at = `step ${index} (${JSON.stringify(op)}) at ${new Date(nowMs).toISOString()}`;
            expect(said.real, `outcome of ${at}`).toEqual(said.model);
            for (const customerId of customerIds) {
              const real = (await balanceOf(deps, customerId, nowMs)).balance;
              expect(real, `balance of ${customerId} after ${at}`).toBe(
                model.balance(customerId, nowMs),
              );
            }
            if (said.customerId) {
              const lots = await checkInvariants(
                deps,
                said.customerId,
                nowMs,
                op.kind === 'expire',
              );
              // C4 C5 C7 C8: the same lots, with the same times and the same credit left.
              expect(lots, `lots of ${said.customerId} after ${at}`).toEqual(
                model.lots(said.customerId),
              );
            }
          }
          // Finally: run the expiry job for everyone now; C14 must hold in its strong form.
          for (const customerId of customerIds) {
            expect(await expireCustomer(deps, customerId, nowMs)).toEqual(
              model.expire(customerId, nowMs),
            );
            const lots = await checkInvariants(deps, customerId, nowMs, true);
            expect(lots, `lots of ${customerId} after the final expiry run`).toEqual(
              model.lots(customerId),
            );
          }
        }),
        { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }) },
      );
    },
    TIMEOUT_MS,
  );
});
