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

  it('C16 a grant dated before an already-processed end is forfeited on arrival, as if delivered first', async () => {
    // Prepare / Act: the same two facts, delivered in the two orders to two customers.
    await grantNewer('cus_grant_first');
    await endOlder('cus_grant_first');
    await endOlder('cus_end_first');
    await grantNewer('cus_end_first');
    // Assess
    const grantFirst = await balanceOf(table, 'cus_grant_first', later);
    const endFirst = await balanceOf(table, 'cus_end_first', later);
    expect(grantFirst.balance).toBe(0);
    expect(endFirst).toEqual({ ...grantFirst, customerId: 'cus_end_first' });
    const entries = (await ledgerOf(table, 'cus_end_first')).entries;
    expect(
      entries.map((entry) => [entry.type, entry.amount, entry.balanceAfter, entry.ref]),
    ).toEqual([
      ['forfeit', -500, 0, 'sub_older'],
      ['grant', 500, 500, 'in_newer_cus_end_first'],
    ]);
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
