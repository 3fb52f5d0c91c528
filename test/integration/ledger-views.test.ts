import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../lib/errors';
import { expireCustomer } from '../../lib/ledger/expiry';
import { balanceOf, type LedgerEntryView, ledgerOf } from '../../lib/ledger/queries';
import { adjust, consume } from '../../lib/ledger/spending';
import { endSubscription } from '../../lib/ledger/subscriptions';
import type { StoreDeps } from '../../lib/store/client';
import { tableItems } from '../support/faults';
import { grantOneLine } from '../support/grants';
import { freshTable } from '../support/table';

const ms = (iso: string) => Date.parse(iso);
const JAN = ms('2026-01-31T10:00:00Z');
const FEB = ms('2026-02-28T10:00:00Z');
const MAR = ms('2026-03-05T10:00:00Z');
/** After the adjustment of 10 Feb expired (10 May) and before February's lot does (28 May). */
const VIEW_AT = ms('2026-05-15T00:00:00Z');

const grant = grantOneLine;

/** Every entry of the ledger, following cursors page by page. */
async function wholeLedger(deps: StoreDeps, customerId: string, limit: number) {
  const pages: LedgerEntryView[][] = [];
  let cursor: string | undefined;
  do {
    const page = await ledgerOf(deps, customerId, { limit, ...(cursor && { cursor }) });
    pages.push([...page.entries]);
    cursor = page.nextCursor;
  } while (cursor);
  return pages;
}

describe('Views: balanceOf and ledgerOf', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;

  beforeAll(async () => {
    table = await freshTable('ledger-views');
    // cus_v1 has a varied history: grants, a bonus-like adjustment, spends, an expiry.
    await grant(table, 'cus_v1', 'in_jan', 100, JAN);
    await adjust(
      { ...table, clock: () => ms('2026-02-10T00:00:00Z') },
      {
        customerId: 'cus_v1',
        amount: 20,
        reason: 'goodwill',
        idempotencyKey: 'ops-1',
        atMs: ms('2026-02-10T00:00:00Z'),
      },
    );
    await grant(table, 'cus_v1', 'in_feb', 100, FEB);
    for (let i = 1; i <= 4; i++) {
      await consume(table, {
        customerId: 'cus_v1',
        amount: 10 * i,
        idempotencyKey: `img-${i}`,
        atMs: MAR,
      });
    }
    await grant(table, 'cus_v1', 'in_mar', 100, ms('2026-03-31T10:00:00Z'));
    await expireCustomer(table, 'cus_v1', VIEW_AT);
    // Granted (as of 20 Mar) after the expiry run: the listing's order must come from the rule.
    await adjust(
      { ...table, clock: () => VIEW_AT },
      {
        customerId: 'cus_v1',
        amount: 5,
        reason: 'render retry',
        idempotencyKey: 'ops-2',
        atMs: ms('2026-03-20T00:00:00Z'),
      },
    );
  });
  afterAll(async () => table.drop());

  it('C5 lists the lots alive at t in burn order, with ISO-8601 UTC times', async () => {
    // Act
    const view = await balanceOf(table, 'cus_v1', VIEW_AT);

    // Assess: the 100 spent all came from January's lot (the soonest to expire), now gone.
    expect(view).toEqual({
      customerId: 'cus_v1',
      balance: 205,
      held: 0,
      debt: 0,
      lots: [
        {
          source: 'subscription',
          granted: 100,
          remaining: 100,
          grantedAt: '2026-02-28T10:00:00.000Z',
          expiresAt: '2026-05-28T10:00:00.000Z',
        },
        {
          source: 'adjustment',
          granted: 5,
          remaining: 5,
          grantedAt: '2026-03-20T00:00:00.000Z',
          expiresAt: '2026-06-20T00:00:00.000Z',
        },
        {
          source: 'subscription',
          granted: 100,
          remaining: 100,
          grantedAt: '2026-03-31T10:00:00.000Z',
          expiresAt: '2026-06-30T10:00:00.000Z',
        },
      ],
      upcoming: [],
    });
  });

  it('C13 lists the ledger newest first, each entry with type, amount, balanceAfter, at and ref', async () => {
    // Act
    const { entries, nextCursor } = await ledgerOf(table, 'cus_v1');

    // Assess
    expect(nextCursor).toBeUndefined();
    expect(
      entries.map((entry) => [entry.type, entry.amount, entry.balanceAfter, entry.ref]),
    ).toEqual([
      ['adjustment', 5, 205, 'ops-2'],
      ['expiry', -20, 200, 'adjust#ops-1'],
      ['grant', 100, 220, 'in_mar'],
      ['consumption', -40, 120, 'img-4'],
      ['consumption', -30, 160, 'img-3'],
      ['consumption', -20, 190, 'img-2'],
      ['consumption', -10, 210, 'img-1'],
      ['grant', 100, 220, 'in_feb'],
      ['adjustment', 20, 120, 'ops-1'],
      ['grant', 100, 100, 'in_jan'],
    ]);
    for (const entry of entries) {
      expect(Object.keys(entry).sort()).toEqual(
        entry.type === 'adjustment'
          ? ['amount', 'at', 'balanceAfter', 'reason', 'ref', 'type']
          : ['amount', 'at', 'balanceAfter', 'ref', 'type'],
      );
      expect(new Date(entry.at).toISOString()).toBe(entry.at);
    }
  });

  it('C13 C14 balanceAfter is the running sum of the amounts, oldest first', async () => {
    // Act
    const { entries } = await ledgerOf(table, 'cus_v1');

    // Assess
    let running = 0;
    for (const entry of [...entries].reverse()) {
      running += entry.amount;
      expect(entry.balanceAfter).toBe(running);
    }
    expect(running).toBe((await balanceOf(table, 'cus_v1', VIEW_AT)).balance);
  });

  it.each([1, 3, 4, 10, 11])(
    'pages of %i cover every entry exactly once, newest first',
    async (limit) => {
      // Prepare
      const { entries: all } = await ledgerOf(table, 'cus_v1');

      // Act
      const pages = await wholeLedger(table, 'cus_v1', limit);

      // Assess
      expect(pages.flat()).toEqual(all);
      expect(pages.slice(0, -1).every((page) => page.length === limit)).toBe(true);
    },
  );

  it('refuses a cursor that did not come from a ledger page, naming the field', async () => {
    // Act
    const failure = await ledgerOf(table, 'cus_v1', {
      cursor: Buffer.from('ACCOUNT').toString('base64url'),
    }).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(InputError);
    expect((failure as InputError).field).toBe('cursor');
  });

  it('C1 an unknown customer has balance 0, no lots, an empty ledger, and reading writes nothing', async () => {
    // Prepare
    const before = await tableItems(table);

    // Act
    const view = await balanceOf(table, 'cus_unknown', MAR);
    const ledger = await ledgerOf(table, 'cus_unknown');

    // Assess
    expect(view).toEqual({
      customerId: 'cus_unknown',
      balance: 0,
      held: 0,
      debt: 0,
      lots: [],
      upcoming: [],
    });
    expect(ledger).toEqual({ entries: [] });
    expect(await tableItems(table)).toEqual(before);
  });

  it('C7 a customer whose only subscription ended shows balance 0 and the forfeit in the ledger', async () => {
    // Prepare
    await grant(table, 'cus_v2', 'in_v2', 50, JAN);
    await endSubscription(table, {
      customerId: 'cus_v2',
      subscriptionId: 'sub_cus_v2',
      endedAtMs: FEB,
    });

    // Act
    const view = await balanceOf(table, 'cus_v2', FEB);
    const { entries } = await ledgerOf(table, 'cus_v2');

    // Assess
    expect(view).toEqual({
      customerId: 'cus_v2',
      balance: 0,
      held: 0,
      debt: 0,
      lots: [],
      upcoming: [],
    });
    expect(entries[0]).toEqual({
      type: 'forfeit',
      amount: -50,
      balanceAfter: 0,
      at: '2026-02-28T10:00:00.000Z',
      ref: 'sub_cus_v2',
    });
  });
});
