import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireCustomer } from '../../lib/ledger/expiry';
import { balanceOf, ledgerOf, readCustomer } from '../../lib/ledger/queries';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { freshTable } from '../support/table';

const start = Date.parse('2026-01-15T00:00:00Z');
const afterExpiry = Date.parse('2026-05-01T00:00:00Z');

describe('Limits of one DynamoDB transaction', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  beforeAll(async () => {
    table = await freshTable('limits');
  });
  afterAll(async () => table.drop());

  it('C6 reclaims 120 expired lots, more than one transaction holds, in batches with one entry each', async () => {
    // Prepare: one invoice with 120 lines is 120 lots.
    const lines = Array.from({ length: 120 }, (_, i) => ({
      lineId: `il_${String(i).padStart(3, '0')}`,
      credits: 2,
      periodStartMs: start + i * 1000,
    }));
    await grantSubscriptionInvoice(table, {
      customerId: 'cus_many',
      invoiceId: 'in_many',
      subscriptionId: 'sub_many',
      invoiceCreatedMs: start,
      lines,
    });
    // Act
    const dryRun = await expireCustomer(table, 'cus_many', afterExpiry, { dryRun: true });
    const result = await expireCustomer(table, 'cus_many', afterExpiry);
    const rerun = await expireCustomer(table, 'cus_many', afterExpiry);
    // Assess
    expect(dryRun.outcome).toEqual({ expiredLots: 120, expiredCredits: 240 });
    expect(result.outcome).toEqual({ expiredLots: 120, expiredCredits: 240 });
    expect(rerun.outcome).toEqual({ expiredLots: 0, expiredCredits: 0 });
    expect((await readCustomer(table, 'cus_many')).lots).toEqual([]);
    expect((await balanceOf(table, 'cus_many', afterExpiry)).balance).toBe(0);
    const ledger = await ledgerOf(table, 'cus_many', { limit: 1000 });
    expect(ledger.entries.filter((entry) => entry.type === 'expiry')).toHaveLength(120);
    expect(ledger.entries[0]?.balanceAfter).toBe(0);
  });
});
