import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, ledgerOf } from '../../lib/ledger/queries';
import { consume } from '../../lib/ledger/spending';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { freshTable } from '../support/table';

describe('smoke', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  beforeAll(async () => {
    table = await freshTable();
  });
  afterAll(async () => table.drop());

  it('grants and spends', async () => {
    const t0 = Date.parse('2026-01-31T10:00:00Z');
    const deps = { ...table, clock: () => t0 };
    const g = await grantSubscriptionInvoice(deps, {
      customerId: 'cus_1',
      invoiceId: 'in_1',
      subscriptionId: 'sub_1',
      invoiceCreatedMs: t0,
      lines: [{ lineId: 'il_1', credits: 500, periodStartMs: t0 }],
    });
    expect(g.status).toBe('applied');
    const again = await grantSubscriptionInvoice(deps, {
      customerId: 'cus_1',
      invoiceId: 'in_1',
      subscriptionId: 'sub_1',
      invoiceCreatedMs: t0,
      lines: [{ lineId: 'il_1', credits: 500, periodStartMs: t0 }],
    });
    expect(again.status).toBe('already_applied');
    const spent = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        consume(deps, { customerId: 'cus_1', amount: 100, idempotencyKey: `k${i}` }),
      ),
    );
    expect(spent.every((s) => s.ok)).toBe(true);
    expect(await consume(deps, { customerId: 'cus_1', amount: 1, idempotencyKey: 'x' })).toEqual({
      ok: false,
      error: 'insufficient_credits',
      balance: 0,
    });
    const bal = await balanceOf(table, 'cus_1', t0);
    expect(bal.balance).toBe(0);
    const ledger = await ledgerOf(table, 'cus_1');
    expect(ledger.entries).toHaveLength(6);
  });
});
