import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../../lib/jobs/audit';
import { type MigrationReport, runMigration } from '../../lib/jobs/migrate';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { balanceOf, ledgerOf, readCustomer } from '../../lib/ledger/queries';
import { referralCodeOf } from '../../lib/ledger/referrals';
import { consume } from '../../lib/ledger/spending';
import { grantSubscriptionInvoice } from '../../lib/ledger/subscriptions';
import { capturingLogger } from '../../lib/log';
import { SCHEMA_KEY } from '../../lib/store/keys';
import { tableItems } from '../support/faults';
import { legacyItems, legacyTable, writeItems } from '../support/legacy-items';
import {
  allLegacyCustomers,
  BIG_LOTS,
  bigCustomer,
  cancelled,
  codeHolder,
  LEGACY_NOW,
  REFERRER_CODE,
  referee,
  referrer,
  SMALL_CUSTOMERS,
} from '../support/legacy-scenario';

/**
 * Tables written by 0.1.0 keep working (issue 10): 0.1.0-shaped items (test/support) in a table
 * without the SCHEMA item are (a) read and changed through the current code, which converts a
 * customer on first touch, and (b) converted by the migration job, dry run first, interrupted
 * and resumed, after which the audit is clean and the table is marked current.
 */
const NOW_MS = Date.parse(LEGACY_NOW);

/** A paid subscription invoice of one line (the shape translate.ts gives the ledger). */
function invoice(
  customerId: string,
  invoiceId: string,
  subscriptionId: string,
  credits: number,
  periodStartMs: number,
  invoiceCreatedMs: number,
  referral?: { code: string; billingReason: string },
) {
  return {
    customerId,
    invoiceId,
    subscriptionId,
    invoiceCreatedMs,
    lines: [{ lineId: 'il_1', credits, periodStartMs }],
    ...(referral && { referral }),
  };
}

describe('Function: runMigration, on a table written by 0.1.0', () => {
  let table: Awaited<ReturnType<typeof legacyTable>>;
  let deps: LedgerDeps;

  beforeAll(async () => {
    table = await legacyTable();
    deps = { db: table.db, tableName: table.tableName, clock: () => NOW_MS };
    await writeItems(table, allLegacyCustomers.flatMap(legacyItems));
  });
  afterAll(async () => table.drop());

  describe('(a) the current code reads and changes 0.1.0 customers', () => {
    it("C14 a 0.1.0 customer's balance and ledger read as before", async () => {
      // Act
      const balance = await balanceOf(deps, referrer.customerId, NOW_MS);
      const ledger = await ledgerOf(deps, referrer.customerId);
      // Assess
      expect(balance.balance).toBe(410);
      expect(balance.lots.map((lot) => lot.remaining)).toEqual([60, 100, 250]);
      expect(ledger.entries.map((entry) => [entry.type, entry.amount, entry.balanceAfter])).toEqual(
        [
          ['referral_bonus', 250, 410],
          ['grant', 100, 160],
          ['consumption', -10, 60],
          ['consumption', -30, 70],
          ['grant', 100, 100],
        ],
      );
    });

    it('C5 C15 a spend burns the soonest lot; a retry of a 0.1.0 spend returns its first result', async () => {
      // Act
      const spent = await consume(deps, {
        customerId: referrer.customerId,
        amount: 5,
        idempotencyKey: 'img-new',
      });
      const retried = await consume(deps, {
        customerId: referrer.customerId,
        amount: 30,
        idempotencyKey: 'img-1',
      });
      // Assess
      expect(spent).toEqual({ ok: true, balance: 405 });
      expect(retried).toEqual({ ok: true, balance: 70 });
      const state = await readCustomer(deps, referrer.customerId);
      expect(state.lots.find((lot) => lot.id === 'in_a1#il_1')?.remaining).toBe(55);
    });

    it('C3 a duplicate of an invoice 0.1.0 granted is already applied', async () => {
      // Act
      const again = await grantSubscriptionInvoice(
        deps,
        invoice(
          referrer.customerId,
          'in_a2',
          'sub_a',
          100,
          Date.parse('2026-11-01T00:00:00Z'),
          Date.parse('2026-11-01T00:00:05Z'),
        ),
      );
      // Assess
      expect(again.status).toBe('already_applied');
      expect((await balanceOf(deps, referrer.customerId, NOW_MS)).balance).toBe(405);
    });

    it('C3 C12 a duplicate of a 0.1.0 first invoice with a code grants nothing twice (a conflict: 0.1.0 fingerprinted it without the code)', async () => {
      // Act
      const again = await grantSubscriptionInvoice(
        deps,
        invoice(
          referee.customerId,
          'in_b1',
          'sub_b',
          500,
          Date.parse('2026-11-02T00:00:00Z'),
          Date.parse('2026-11-02T00:00:05Z'),
          { code: REFERRER_CODE, billingReason: 'subscription_create' },
        ),
      );
      // Assess: settled by the 0.1.0 fact, whose outcome it returns; the webhook reports a
      // conflict as already applied, with a note (lib/stripe/process.ts).
      expect(again).toEqual({
        status: 'conflict',
        outcome: { result: 'granted', credits: 500, balance: 500 },
      });
      expect((await balanceOf(deps, referee.customerId, NOW_MS)).balance).toBe(750);
      expect((await balanceOf(deps, referrer.customerId, NOW_MS)).balance).toBe(405);
    });

    it('C7 C8 C16 an invoice of a subscription that ended under 0.1.0: a period begun before the end arrives forfeited, one after it grants nothing', async () => {
      // Act
      const before = await grantSubscriptionInvoice(
        deps,
        invoice(
          cancelled.customerId,
          'in_c2',
          'sub_c',
          100,
          Date.parse('2026-10-01T00:00:00Z'),
          Date.parse('2026-10-01T00:00:05Z'),
        ),
      );
      const after = await grantSubscriptionInvoice(
        deps,
        invoice(
          cancelled.customerId,
          'in_c3',
          'sub_c',
          100,
          Date.parse('2026-11-01T00:00:00Z'),
          Date.parse('2026-11-01T00:00:05Z'),
        ),
      );
      // Assess: the 0.1.0 end (20 Oct) takes the October lot on arrival, as it would have taken
      // it had Stripe delivered the invoice first; November is after the end.
      expect(before.outcome).toMatchObject({ result: 'granted', credits: 100, balance: 0 });
      expect(after.outcome).toMatchObject({ result: 'ignored', reason: 'subscription_ended' });
      expect((await balanceOf(deps, cancelled.customerId, NOW_MS)).balance).toBe(0);
    });

    it('C9 C11 a code 0.1.0 issued still redeems, and its owner keeps it', async () => {
      // Act
      const redeemed = await grantSubscriptionInvoice(
        deps,
        invoice('cus_new_e', 'in_e1', 'sub_e', 100, NOW_MS - 60_000, NOW_MS, {
          code: '7k3m9-q2x4p',
          billingReason: 'subscription_create',
        }),
      );
      const code = await referralCodeOf(deps, referrer.customerId);
      // Assess
      expect(redeemed.outcome.referral).toMatchObject({ result: 'redeemed', bonus: 50 });
      expect((await balanceOf(deps, referrer.customerId, NOW_MS)).balance).toBe(455);
      expect(code).toBe('7K3M9-Q2X4P');
      expect(code.replace('-', '')).toBe(REFERRER_CODE);
    });

    it('C9 a referral-code request as the first touch of a 0.1.0 customer returns its code and keeps its credits', async () => {
      // Act
      const code = await referralCodeOf(deps, codeHolder.customerId);
      // Assess
      expect(code.replace('-', '')).toBe(codeHolder.referralCode);
      expect((await balanceOf(deps, codeHolder.customerId, NOW_MS)).balance).toBe(50);
    });
  });

  describe('(b) the migration converts the rest', () => {
    let dryRun: MigrationReport;
    let first: MigrationReport;
    let second: MigrationReport;

    it('a dry run counts what it would convert and writes nothing', async () => {
      // Prepare
      const before = await tableItems(table);
      // Act
      dryRun = await runMigration(table, { dryRun: true, logger: capturingLogger().logger });
      // Assess
      expect(await tableItems(table)).toEqual(before);
      // Touched in (a), hence converted already: the referrer, the referee, the cancelled one,
      // the code holder. The big one and the small ones are left.
      expect(dryRun).toMatchObject({
        dryRun: true,
        complete: true,
        legacyFound: 1 + SMALL_CUSTOMERS,
        customersMigrated: 1 + SMALL_CUSTOMERS,
        lotsMigrated: BIG_LOTS + SMALL_CUSTOMERS,
        failed: 0,
        legacyLeftInPass: 1 + SMALL_CUSTOMERS,
        schemaWritten: false,
      });
      expect(await schemaItem()).toBeUndefined();
    });

    it('a run stopped by its limit returns a cursor, and the run it resumes finishes the pass', async () => {
      // Prepare: pages of 10 accounts, at most 20 per call.
      const captured = capturingLogger();
      const options = { pageSize: 10, limit: 20, logger: captured.logger };
      // Act
      first = await runMigration(table, options);
      second = await runMigration(table, { ...options, limit: 1_000, cursor: first.nextCursor });
      // Assess
      expect(first).toMatchObject({ complete: false, accountsScanned: 20, schemaWritten: false });
      expect(first.nextCursor).toEqual(expect.any(String));
      expect(second).toMatchObject({ complete: true, failed: 0, legacyLeftInPass: 0 });
      expect(second.schemaWritten).toBe(true);
      expect(first.customersMigrated + second.customersMigrated).toBe(1 + SMALL_CUSTOMERS);
      expect(first.lotsMigrated + second.lotsMigrated).toBe(BIG_LOTS + SMALL_CUSTOMERS);
      expect(first.pages + second.pages).toBeGreaterThanOrEqual(4);
      expect(captured.lines().filter((line) => line.message === 'migration page')).toHaveLength(
        first.pages + second.pages,
      );
      expect(await schemaItem()).toMatchObject({ version: 2 });
    });

    it('converts a customer with more lots than one transaction holds', async () => {
      // Act
      const state = await readCustomer(table, bigCustomer.customerId);
      // Assess
      expect(state.lots).toHaveLength(BIG_LOTS);
      expect(state.lotCount).toBe(BIG_LOTS);
      expect((await balanceOf(table, bigCustomer.customerId, NOW_MS)).balance).toBe(BIG_LOTS);
    });

    it('C14 leaves the whole table clean for the audit, and a second run finds nothing to do', async () => {
      // Act
      const problems = await auditWholeTable();
      const again = await runMigration(table, { logger: capturingLogger().logger });
      // Assess
      expect(problems).toEqual([]);
      expect(again).toMatchObject({ complete: true, legacyFound: 0, customersMigrated: 0 });
      const legacyLeft = (await tableItems(table)).filter((item) => item.sk === 'ACCOUNT');
      expect(legacyLeft).toEqual([]);
    });
  });

  async function schemaItem() {
    const response = await table.db.send(
      new GetCommand({ TableName: table.tableName, Key: SCHEMA_KEY, ConsistentRead: true }),
    );
    return response.Item;
  }

  async function auditWholeTable() {
    const problems: unknown[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const report = await audit(table, { ...(cursor && { cursor }), nowMs: NOW_MS });
      problems.push(...report.problems);
      cursor = report.nextCursor;
      if (!cursor) return problems;
    }
    throw new Error('the audit did not finish in 100 pages');
  }
});
