import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCreditsHandler } from '../../functions/credits';
import { type AuditReport, audit } from '../../lib/jobs/audit';
import { runRollover } from '../../lib/jobs/rollover';
import { readCustomer } from '../../lib/ledger/queries';
import { referralCodeOf } from '../../lib/ledger/referrals';
import { adjust, consume } from '../../lib/ledger/spending';
import { endSubscription, grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { capturingLogger } from '../../lib/log';
import { runCreditsRequest } from '../../lib/ops/credits-api';
import {
  accountKey,
  customerPk,
  LEDGER_PREFIX,
  legacyAccountKey,
  lotKey,
} from '../../lib/store/keys';
import { wholeLedger } from '../../lib/store/ledger';
import { grantOneLine } from '../support/grants';
import { freshTable } from '../support/table';

type Table = Awaited<ReturnType<typeof freshTable>>;

const iso = (text: string) => Date.parse(text);
const clockAt = (table: Table, at: string) => ({ ...table, clock: () => iso(at) });

const grant = grantOneLine;

/**
 * A table with every kind of entry: grants, spends, an adjustment, a referral on both sides,
 * a forfeit, and expiries recorded by the job; plus customers holding plain grants.
 */
async function seedHealthy(table: Table) {
  await grant(table, 'cus_ref', 'in_ref_1', 100, '2026-01-01T00:00:00Z');
  await grant(table, 'cus_ref', 'in_ref_2', 100, '2026-02-01T00:00:00Z');
  const code = await referralCodeOf(table, 'cus_ref');
  await grantSubscriptionInvoice(clockAt(table, '2026-03-01T00:00:00Z'), {
    customerId: 'cus_friend',
    invoiceId: 'in_friend_1',
    subscriptionId: 'sub_cus_friend',
    invoiceCreatedMs: iso('2026-03-01T00:00:00Z'),
    lines: [{ lineId: 'il_1', credits: 500, periodStartMs: iso('2026-03-01T00:00:00Z') }],
    referral: { code },
  });
  await consume(clockAt(table, '2026-03-05T00:00:00Z'), {
    customerId: 'cus_friend',
    amount: 30,
    idempotencyKey: 'img-1',
  });
  await adjust(clockAt(table, '2026-03-06T00:00:00Z'), {
    customerId: 'cus_friend',
    amount: 5,
    reason: 'support ticket 17',
    idempotencyKey: 'ops-1',
  });
  await grant(table, 'cus_gone', 'in_gone_1', 200, '2026-02-10T00:00:00Z');
  await endSubscription(clockAt(table, '2026-03-10T00:00:00Z'), {
    customerId: 'cus_gone',
    subscriptionId: 'sub_cus_gone',
    endedAtMs: iso('2026-03-10T00:00:00Z'),
  });
  for (let i = 0; i < 9; i++)
    await grant(table, `cus_plain_${i}`, `in_plain_${i}`, 50, '2026-03-15T00:00:00Z');
  await runRollover(table, {
    nowMs: iso('2026-04-01T12:00:00Z'),
    logger: capturingLogger().logger,
  });
  return [
    'cus_ref',
    'cus_friend',
    'cus_gone',
    ...Array.from({ length: 9 }, (_, i) => `cus_plain_${i}`),
  ];
}

async function auditWholeTable(table: Table, limit: number) {
  const pages: AuditReport[] = [];
  let cursor: string | undefined;
  do {
    const page = await audit(table, { limit, ...(cursor && { cursor }) });
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor && pages.length < 100);
  return pages;
}

/** Overwrites one attribute of the customer's only lot, as a bug or a hand edit might. */
async function setLot(table: Table, customerId: string, attribute: string, value: number) {
  const [lot] = (await readCustomer(table, customerId)).lots;
  if (!lot) throw new Error(`${customerId} has no lot`);
  await table.db.send(
    new UpdateCommand({
      TableName: table.tableName,
      Key: lotKey(customerId, lot),
      UpdateExpression: 'SET #attribute = :value',
      ExpressionAttributeNames: { '#attribute': attribute },
      ExpressionAttributeValues: { ':value': value },
    }),
  );
}

async function ledgerKeyOf(table: Table, customerId: string, index: number) {
  const entry = (await wholeLedger(table, customerId))[index];
  if (!entry) throw new Error(`${customerId} has no entry ${index}`);
  return { pk: customerPk(customerId), sk: entry.sk };
}

describe('Action: audit', () => {
  let table: Table;
  beforeEach(async () => {
    table = await freshTable('audit');
  });
  afterEach(async () => table.drop());

  it('C14 reports nothing on a healthy table, paging through every account exactly once', async () => {
    // Prepare
    const customers = await seedHealthy(table);
    // Act
    const pages = await auditWholeTable(table, 5);
    // Assess
    expect(pages.flatMap((page) => page.problems)).toEqual([]);
    expect(pages.reduce((sum, page) => sum + page.checked, 0)).toBe(customers.length);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages.at(-1)?.nextCursor).toBeUndefined();
  });

  it("C14 finds a lot whose remaining exceeds its grant, and the ledger's disagreement with it", async () => {
    // Prepare: the plain customer's only lot granted 50.
    await seedHealthy(table);
    await setLot(table, 'cus_plain_3', 'remaining', 80);
    // Act
    const one = await audit(table, { customerId: 'cus_plain_3' });
    const all = (await auditWholeTable(table, 4)).flatMap((page) => page.problems);
    // Assess
    const expected = [
      {
        customerId: 'cus_plain_3',
        problem: 'ledger_sum_differs_from_lots',
        expected: 80,
        actual: 50,
      },
      {
        customerId: 'cus_plain_3',
        problem: 'lot_remaining_out_of_range',
        lotId: 'in_plain_3#il_1',
        expected: '0 < remaining <= 50',
        actual: 80,
      },
    ];
    expect(one).toEqual({ checked: 1, problems: expected });
    expect(all).toEqual(expected);
  });

  it('C13 C14 finds a missing ledger entry and a negative balanceAfter', async () => {
    // Prepare: cus_gone's ledger is its grant and its forfeit.
    await seedHealthy(table);
    await table.db.send(
      new DeleteCommand({
        TableName: table.tableName,
        Key: await ledgerKeyOf(table, 'cus_gone', 0),
      }),
    );
    const friendEntry = await ledgerKeyOf(table, 'cus_friend', 1);
    await table.db.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: friendEntry,
        UpdateExpression: 'SET balanceAfter = :wrong',
        ExpressionAttributeValues: { ':wrong': -1 },
      }),
    );
    // Act
    const gone = await audit(table, { customerId: 'cus_gone' });
    const friend = await audit(table, { customerId: 'cus_friend' });
    // Assess
    expect(gone.problems).toEqual([
      {
        customerId: 'cus_gone',
        problem: 'ledger_sum_differs_from_lots',
        expected: 0,
        actual: -200,
      },
    ]);
    expect(friend.problems).toEqual([
      {
        customerId: 'cus_friend',
        problem: 'negative_balance_after',
        expected: '>= 0',
        actual: -1,
        entry: friendEntry.sk,
      },
    ]);
    expect(friendEntry.sk.startsWith(LEDGER_PREFIX)).toBe(true);
  });

  it('C6/C14 with `now`, reports lots expired at `now` that the expiry job has not reclaimed yet', async () => {
    // Prepare: the job ran for 1 Apr; the referrer's February lot expires 1 May.
    await seedHealthy(table);
    const now = iso('2026-05-01T00:00:00Z');
    // Act
    const before = await audit(table, { customerId: 'cus_ref', nowMs: now });
    await runRollover(table, { nowMs: now, logger: capturingLogger().logger });
    const after = await audit(table, { customerId: 'cus_ref', nowMs: now });
    // Assess
    expect(before.problems).toEqual([
      {
        customerId: 'cus_ref',
        problem: 'expired_lot_not_reclaimed',
        lotId: 'in_ref_2#il_1',
        expected:
          'reclaimed by the expiry job for 2026-05-01T00:00:00.000Z (expired 2026-05-01T00:00:00.000Z)',
        actual: 100,
      },
    ]);
    expect(after.problems).toEqual([]);
  });

  it('reports a customer still in the 0.1.0 shape, without migrating it', async () => {
    // Prepare: an item as 0.1.0 wrote it, in a table whose SCHEMA item says nothing is left.
    await table.db.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { ...legacyAccountKey('cus_old'), customerId: 'cus_old', version: 3, lots: {} },
      }),
    );
    // Act
    const pages = await auditWholeTable(table, 10);
    // Assess
    expect(pages.flatMap((page) => page.problems)).toEqual([
      {
        customerId: 'cus_old',
        problem: 'legacy_account',
        expected: 'the current item shape',
        actual: 'a 0.1.0 account item: run `npm run migrate`',
      },
    ]);
  });

  it('reports an unknown customer as nothing checked', async () => {
    // Act / Assess
    expect(await audit(table, { customerId: 'cus_nobody' })).toEqual({ checked: 0, problems: [] });
  });
});

describe('Function: credits, action audit', () => {
  let table: Table;
  beforeEach(async () => {
    table = await freshTable('audit-fn');
  });
  afterEach(async () => table.drop());

  it('C14 audits through the credits function, one customer or a page of the table', async () => {
    // Prepare
    await grant(table, 'cus_a', 'in_a', 100, '2026-03-01T00:00:00Z');
    await grant(table, 'cus_b', 'in_b', 100, '2026-03-01T00:00:00Z');
    await table.db.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: accountKey('cus_b'),
        UpdateExpression: 'SET lotCount = :count',
        ExpressionAttributeValues: { ':count': 3 },
      }),
    );
    const handler = createCreditsHandler(() => table);
    // Act
    const one = await handler({ action: 'audit', customerId: 'cus_a' }, {} as never);
    const page = await handler({ action: 'audit', limit: 1 }, {} as never);
    const rest = await handler(
      { action: 'audit', limit: 10, cursor: (page as AuditReport).nextCursor },
      {} as never,
    );
    // Assess
    expect(one).toEqual({ checked: 1, problems: [] });
    expect((page as AuditReport).checked).toBe(1);
    expect((rest as AuditReport).checked).toBe(1);
    expect([...(page as AuditReport).problems, ...(rest as AuditReport).problems]).toEqual([
      { customerId: 'cus_b', problem: 'lot_count_differs', expected: 1, actual: 3 },
    ]);
  });

  it('rejects bad audit input naming the field', async () => {
    // Act / Assess
    await expect(runCreditsRequest(table, { action: 'audit', limit: 0 })).rejects.toMatchObject({
      field: 'limit',
    });
    await expect(
      runCreditsRequest(table, { action: 'audit', cursor: 'not-a-cursor' }),
    ).rejects.toMatchObject({ field: 'cursor' });
    await expect(runCreditsRequest(table, { action: 'audit', now: 'today' })).rejects.toMatchObject(
      {
        field: 'now',
      },
    );
  });
});
