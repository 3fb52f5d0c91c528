import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, ledgerOf } from '../../lib/ledger/queries';
import { endSubscription, grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { freshTable } from '../support/table';

const newerStart = Date.parse('2026-03-05T00:00:00Z');
const olderEnd = Date.parse('2026-03-10T00:00:00Z');
const later = Date.parse('2026-03-20T00:00:00Z');

describe('Overlapping subscriptions in either delivery order (C7, C8, C16)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  const deps = () => ({ ...table, clock: () => later });
  beforeAll(async () => {
    table = await freshTable('order');
  });
  afterAll(async () => table.drop());

  const grantNewer = (customerId: string) =>
    grantSubscriptionInvoice(deps(), {
      customerId,
      invoiceId: `in_newer_${customerId}`,
      subscriptionId: 'sub_newer',
      invoiceCreatedMs: newerStart,
      lines: [{ lineId: 'il_1', credits: 500, periodStartMs: newerStart }],
    });
  const endOlder = (customerId: string) =>
    endSubscription(deps(), { customerId, subscriptionId: 'sub_older', endedAtMs: olderEnd });

  const grantOlder = (customerId: string) =>
    grantSubscriptionInvoice(deps(), {
      customerId,
      invoiceId: `in_older_${customerId}`,
      subscriptionId: 'sub_older',
      invoiceCreatedMs: Date.parse('2026-02-20T00:00:00Z'),
      lines: [{ lineId: 'il_1', credits: 100, periodStartMs: Date.parse('2026-02-20T00:00:00Z') }],
    });

  it('C7 C8 C16 switching plans (new subscription paid, then the old one cancelled) loses nothing, in either order', async () => {
    // Prepare / Act: the same three facts, the last two delivered in the two orders.
    for (const customerId of ['cus_grant_first', 'cus_end_first']) await grantOlder(customerId);
    await grantNewer('cus_grant_first');
    await endOlder('cus_grant_first');
    await endOlder('cus_end_first');
    await grantNewer('cus_end_first');
    // Assess: the newer subscription was active when the older ended, so nothing is forfeited.
    const grantFirst = await balanceOf(table, 'cus_grant_first', later);
    const endFirst = await balanceOf(table, 'cus_end_first', later);
    expect(grantFirst.balance).toBe(600);
    expect(endFirst).toEqual({ ...grantFirst, customerId: 'cus_end_first' });
    // Delivered end first, the end forfeited what it saw; the later grant undid it (C8).
    const entries = (await ledgerOf(table, 'cus_end_first')).entries;
    expect(entries.map((entry) => [entry.type, entry.amount, entry.balanceAfter])).toEqual([
      ['forfeit', 100, 600],
      ['grant', 500, 500],
      ['forfeit', -100, 0],
      ['grant', 100, 100],
    ]);
  });

  it('C7 C16 the last subscription ending forfeits, whichever of its grant and end arrives first', async () => {
    // Prepare: one subscription only; its grant for 5 Mar delivered after its end on 10 Mar.
    const only = (customerId: string) =>
      grantSubscriptionInvoice(deps(), {
        customerId,
        invoiceId: `in_only_${customerId}`,
        subscriptionId: 'sub_older',
        invoiceCreatedMs: newerStart,
        lines: [{ lineId: 'il_1', credits: 500, periodStartMs: newerStart }],
      });
    // Act
    await only('cus_only_grant_first');
    await endOlder('cus_only_grant_first');
    await endOlder('cus_only_end_first');
    await only('cus_only_end_first');
    // Assess: C8 the grant is ignored after the end; either way nothing is left.
    for (const customerId of ['cus_only_grant_first', 'cus_only_end_first']) {
      expect((await balanceOf(table, customerId, later)).balance).toBe(0);
    }
  });

  it('C8 a grant dated after the older subscription ended is kept in either order', async () => {
    const afterEnd = olderEnd + 1000;
    for (const [customerId, endFirst] of [
      ['cus_keep_a', true],
      ['cus_keep_b', false],
    ] as const) {
      const grant = () =>
        grantSubscriptionInvoice(deps(), {
          customerId,
          invoiceId: `in_after_${customerId}`,
          subscriptionId: 'sub_newer',
          invoiceCreatedMs: afterEnd,
          lines: [{ lineId: 'il_1', credits: 300, periodStartMs: afterEnd }],
        });
      if (endFirst) await endOlder(customerId);
      await grant();
      if (!endFirst) await endOlder(customerId);
      expect((await balanceOf(table, customerId, later)).balance).toBe(300);
    }
  });
});

describe('Ends in one second (C7, C16)', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  const at = Date.parse('2026-04-01T12:00:00Z');
  const deps = () => ({ ...table, clock: () => at });
  beforeAll(async () => {
    table = await freshTable('same-second-ends');
  });
  afterAll(async () => table.drop());

  type Step = 'grant_z' | 'end_z' | 'end_m';
  const orders: Step[][] = [
    ['grant_z', 'end_m', 'end_z'],
    ['grant_z', 'end_z', 'end_m'],
    ['end_m', 'grant_z', 'end_z'],
    ['end_m', 'end_z', 'grant_z'],
    ['end_z', 'grant_z', 'end_m'],
    ['end_z', 'end_m', 'grant_z'],
  ];

  /** Delivers one order of the three facts, all in one second, and says what each end took. */
  async function deliver(customerId: string, order: Step[], paidM: boolean) {
    const forfeited: Record<string, number> = {};
    if (paidM) {
      // A paid invoice of a price without credits (C2): it only makes `sub_m` active.
      await grantSubscriptionInvoice(deps(), {
        customerId,
        invoiceId: `in_m_${customerId}`,
        subscriptionId: 'sub_m',
        invoiceCreatedMs: at,
        lines: [{ lineId: 'il_1', credits: 0, periodStartMs: at }],
      });
    }
    for (const step of order) {
      if (step === 'grant_z') {
        await grantSubscriptionInvoice(deps(), {
          customerId,
          invoiceId: `in_z_${customerId}`,
          subscriptionId: 'sub_z',
          invoiceCreatedMs: at,
          lines: [{ lineId: 'il_1', credits: 50, periodStartMs: at }],
        });
        continue;
      }
      const subscriptionId = step === 'end_z' ? 'sub_z' : 'sub_m';
      const said = await endSubscription(deps(), { customerId, subscriptionId, endedAtMs: at });
      forfeited[subscriptionId] = (said.outcome as { forfeited: number }).forfeited;
    }
    const forfeits = (await ledgerOf(table, customerId)).entries.filter(
      (entry) => entry.type === 'forfeit',
    );
    return { forfeited, refs: forfeits.map((entry) => entry.ref) };
  }

  it("C7 C16 a never paid subscription ending in the paid one's second forfeits nothing; the paid one's end takes the lot granted in that second, in all 6 orders", async () => {
    for (const [index, order] of orders.entries()) {
      const customerId = `cus_unpaid_${index}`;
      // Act
      const seen = await deliver(customerId, order, false);
      // Assess: a lot granted at the very moment of the end was granted "up to" it (C7).
      expect((await balanceOf(table, customerId, at)).balance, order.join(' ')).toBe(0);
      expect(seen.refs, order.join(' ')).toEqual(['sub_z']);
      expect(seen.forfeited.sub_m, order.join(' ')).toBe(0);
      // Delivered before its grant, sub_z's end had nothing to take yet: the grant arrives forfeited.
      const endBeforeGrant = order.indexOf('end_z') < order.indexOf('grant_z');
      expect(seen.forfeited.sub_z, order.join(' ')).toBe(endBeforeGrant ? 0 : 50);
    }
  });

  it("C7 C16 two paid subscriptions ending in one second: the forfeit is always the same one's (by subscription id), in all 6 orders", async () => {
    for (const [index, order] of orders.entries()) {
      const customerId = `cus_paid_${index}`;
      // Act
      const seen = await deliver(customerId, order, true);
      // Assess
      expect((await balanceOf(table, customerId, at)).balance, order.join(' ')).toBe(0);
      expect(seen.refs, order.join(' ')).toEqual(['sub_m']);
      expect(seen.forfeited.sub_z, order.join(' ')).toBe(0);
    }
  });
});
