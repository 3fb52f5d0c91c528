import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../../lib/jobs/audit';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { grantPack } from '../../lib/ledger/purchases';
import { balanceOf } from '../../lib/ledger/queries';
import { referralCodeOf } from '../../lib/ledger/referrals';
import { reverse } from '../../lib/ledger/reversals';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { faultyStore } from '../support/faults';
import { freshTable, localClientConfig } from '../support/table';

const ms = (iso: string) => Date.parse(iso);
const PERIOD_START = ms('2026-03-01T09:00:00Z');
const REFUNDED_AT = ms('2026-03-05T09:00:00Z');
const NOW = ms('2026-03-10T09:00:00Z');
/** $50.00 for a 500-credit plan. */
const PAID = 5000;

/**
 * The DynamoDB calls of a grant, seen under the SDK (test/support/faults.ts, no fault armed):
 * a grant does not read its purchase's record (PURCHASE#<id>). It expects none, and the
 * record's conditional write finds a reversal delivered before the grant (C16): the cancelled
 * transaction returns the record, and the grant is decided again on it.
 */
describe('Function: grantSubscriptionInvoice, without reading the purchase record', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let observed: ReturnType<typeof faultyStore>;
  /** Each request the observed client made since the last heal, with DynamoDB's status. */
  let calls: [string, number][] = [];
  const healthy = () => ({ ...table, clock: () => NOW });
  const watched = () => ({ ...observed.deps, clock: () => NOW });

  beforeAll(async () => {
    table = await freshTable('purchase-record-calls');
    observed = faultyStore(table, localClientConfig());
    // The client's first read of a new customer asks for the table's SCHEMA item, once.
    await subscribe(watched(), 'cus_warm_up', 'in_warm_up');
  });
  afterEach(() => {
    observed.faults.heal();
    observed.faults.watch(undefined);
  });
  afterAll(async () => {
    observed.destroy();
    await table.drop();
  });

  /** Forgets what the observed client did so far, and records its calls from now on. */
  function observe(onCall?: (operation: string) => Promise<void>) {
    observed.faults.heal();
    calls = [];
    observed.faults.watch(async (seen, status) => {
      calls.push([seen.operation, status]);
      await onCall?.(seen.operation);
    });
  }

  function subscribe(
    deps: LedgerDeps,
    customerId: string,
    invoiceId: string,
    options: { startMs?: number; code?: string; dryRun?: boolean } = {},
  ) {
    const startMs = options.startMs ?? PERIOD_START;
    return grantSubscriptionInvoice(
      deps,
      {
        customerId,
        invoiceId,
        subscriptionId: `sub_${customerId}`,
        invoiceCreatedMs: startMs,
        lines: [{ lineId: 'il_1', credits: 500, periodStartMs: startMs }],
        amountPaid: PAID,
        ...(options.code && { referral: { code: options.code } }),
      },
      { ...(options.dryRun && { dryRun: true }) },
    );
  }

  function refundBeforeGrant(customerId: string, purchaseId: string, amount: number) {
    return reverse(healthy(), {
      customerId,
      purchaseId,
      key: `refund#re_${customerId}`,
      amount,
      atMs: REFUNDED_AT,
      undo: false,
    });
  }

  /** A referrer granted a day before the period, and the code they share. */
  async function referrerWithCode(referrerId: string): Promise<string> {
    await subscribe(healthy(), referrerId, `in_${referrerId}`, {
      startMs: PERIOD_START - 86_400_000,
    });
    return referralCodeOf(healthy(), referrerId);
  }

  async function expectAudited(...customerIds: string[]) {
    for (const customerId of customerIds) {
      expect((await audit(table, { customerId })).problems).toEqual([]);
    }
  }

  it('C3 a grant makes 2 calls: the customer state and the transaction', async () => {
    // Prepare
    observe();

    // Act
    const grant = await subscribe(watched(), 'cus_plain', 'in_plain');

    // Assess
    expect(grant).toMatchObject({ status: 'applied', outcome: { balance: 500 } });
    expect(calls).toEqual([
      ['Query', 200],
      ['TransactWriteItems', 200],
    ]);
  });

  it('C10 C11 a referral makes 3 calls once the code owner is known: both states and the transaction', async () => {
    // Prepare: the client looks the code's owner up once, then remembers it.
    const code = await referrerWithCode('cus_referrer_calls');
    await subscribe(watched(), 'cus_first_referee', 'in_first_referee', { code });
    observe();

    // Act
    const grant = await subscribe(watched(), 'cus_referee_calls', 'in_referee_calls', { code });

    // Assess
    expect(grant.outcome).toMatchObject({ referral: { result: 'redeemed', bonus: 250 } });
    expect(calls).toEqual([
      ['Query', 200],
      ['Query', 200],
      ['TransactWriteItems', 200],
    ]);
    await expectAudited('cus_referee_calls', 'cus_referrer_calls');
  });

  it('C16 C22 a refund delivered before the grant cancels its first transaction, and the retry applies it on the same read', async () => {
    // Prepare
    const early = await refundBeforeGrant('cus_early_calls', 'in_early_calls', PAID / 2);
    expect(early.outcome).toMatchObject({ result: 'pending' });
    observe();

    // Act
    const grant = await subscribe(watched(), 'cus_early_calls', 'in_early_calls');

    // Assess: half of the 500 is gone with the refund; one read, the record learnt from the
    // cancellation (ALL_OLD), not read.
    expect(grant).toMatchObject({ status: 'applied', outcome: { credits: 500, balance: 250 } });
    expect(calls).toEqual([
      ['Query', 200],
      ['TransactWriteItems', 400],
      ['TransactWriteItems', 200],
    ]);
    await expectAudited('cus_early_calls');
  });

  it("C16 C24 a refund delivered before a referee's first invoice takes both bonuses back, without a read more", async () => {
    // Prepare
    const code = await referrerWithCode('cus_referrer_early');
    await subscribe(watched(), 'cus_referee_warm', 'in_referee_warm', { code });
    await refundBeforeGrant('cus_referee_early', 'in_referee_early', PAID / 2);
    observe();

    // Act
    const grant = await subscribe(watched(), 'cus_referee_early', 'in_referee_early', { code });

    // Assess: half of 500 + 250 from the referee, half of 250 from the referrer's new bonus.
    expect(grant.outcome).toMatchObject({ referral: { result: 'redeemed' }, balance: 375 });
    const referrer = await balanceOf(table, 'cus_referrer_early', NOW);
    expect(referrer.balance).toBe(500 + 250 + 125);
    expect(calls).toEqual([
      ['Query', 200],
      ['Query', 200],
      ['TransactWriteItems', 400],
      ['TransactWriteItems', 200],
    ]);
    await expectAudited('cus_referee_early', 'cus_referrer_early');
  });

  it('C16 C22 a refund that lands between the grant read and its write is still applied', async () => {
    // Prepare: the refund is processed right after the grant's read came back.
    let refunded = false;
    observe(async (operation) => {
      if (operation !== 'Query' || refunded) return;
      refunded = true;
      await refundBeforeGrant('cus_race_calls', 'in_race_calls', PAID);
    });

    // Act
    const grant = await subscribe(watched(), 'cus_race_calls', 'in_race_calls');

    // Assess: a full refund leaves nothing.
    expect(refunded).toBe(true);
    expect(grant).toMatchObject({ status: 'applied', outcome: { balance: 0 } });
    expect(calls.map(([operation]) => operation)).toEqual([
      'Query',
      'TransactWriteItems',
      'TransactWriteItems',
    ]);
    await expectAudited('cus_race_calls');
  });

  it('C21 C16 a pack does the same: 2 calls, and a refund that came first cancels the first write', async () => {
    // Prepare
    const pack = (customerId: string) =>
      grantPack(watched(), {
        customerId,
        purchaseId: `cs_${customerId}`,
        lines: [{ lineId: 'li_1', credits: 1000 }],
        purchasedAtMs: PERIOD_START,
        amountPaid: 2000,
      });
    await refundBeforeGrant('cus_pack_early', 'cs_cus_pack_early', 500);
    observe();

    // Act
    const onTime = await pack('cus_pack_calls');
    const plain = calls.map(([operation]) => operation);
    observe();
    const late = await pack('cus_pack_early');

    // Assess
    expect(onTime.outcome).toMatchObject({ balance: 1000 });
    expect(plain).toEqual(['Query', 'TransactWriteItems']);
    expect(late.outcome).toMatchObject({ balance: 750 });
    expect(calls.map(([operation]) => operation)).toEqual([
      'Query',
      'TransactWriteItems',
      'TransactWriteItems',
    ]);
  });

  it('C16 a dry run, which writes nothing that could find the refund, reads the record', async () => {
    // Prepare
    await refundBeforeGrant('cus_dry_calls', 'in_dry_calls', PAID / 2);
    observe();

    // Act
    const dry = await subscribe(watched(), 'cus_dry_calls', 'in_dry_calls', { dryRun: true });

    // Assess
    expect(dry).toMatchObject({ dryRun: true, outcome: { balance: 250 } });
    expect(calls.map(([operation]) => operation)).toEqual(['Query', 'GetItem']);
  });
});
