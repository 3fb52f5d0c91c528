import * as z from 'zod';
import { creditsOf, holdsOf } from '../credits/give-back';
import type { Hold } from '../credits/hold-change';
import { isLapsedAt } from '../credits/holds';
import { bookBalance } from '../credits/lots';
import { type CustomerState, EntryType, totalDebt } from '../credits/state';
import { toIso } from '../credits/time';
import { InputError } from '../errors';
import type { StoreDeps } from '../store/client';
import type { LedgerItem } from '../store/items';
import { wholeLedger } from '../store/ledger';
import { scanAccounts } from '../store/scan';
import { readState } from '../store/state';

/**
 * The `audit` action (ops, after an incident): checks C14 for one customer, or for the whole
 * table a page at a time. For each customer it checks
 * - the ledger's sum equals the lots' remaining credit less the debt (C14, C23: every change
 *   writes both at once);
 * - every lot: 0 <= remaining <= granted, and a forfeited one holds nothing;
 * - the account's lot count equals its lots (the spend cache relies on it);
 * - no entry's balanceAfter is negative (C1);
 * - C25: what the hold items keep equals minus the sum of the `hold` and `release` entries (a
 *   hold takes its credits out of the lots with a `hold` entry, and every end of it writes one
 *   `release` of the whole hold), and each hold's parts add up to it, none above its lot;
 * - with `now`: no lot expired at `now` still holds credit and no hold lapsed at `now` is still
 *   stored, i.e. the expiry job has run for `now` (C14: only then does the ledger equal the
 *   spendable balance).
 * balanceAfter is not checked against the running sum: two overlapping spends of one customer
 * each record the balance they read (see lib/credits/state.ts), so only the sum is exact.
 */
export type AuditProblem = {
  readonly customerId: string;
  readonly problem: AuditProblemKind;
  readonly expected: number | string;
  readonly actual: number | string;
  readonly lotId?: string;
  readonly holdId?: string;
  /** The ledger entry's key, for problems of one entry. */
  readonly entry?: string;
};

export const AuditProblemKind = {
  ledgerSumDiffersFromLots: 'ledger_sum_differs_from_lots',
  lotRemainingOutOfRange: 'lot_remaining_out_of_range',
  lotCountDiffers: 'lot_count_differs',
  negativeBalanceAfter: 'negative_balance_after',
  ledgerWithoutAccount: 'ledger_without_account',
  expiredLotNotReclaimed: 'expired_lot_not_reclaimed',
  heldDiffersFromLedger: 'held_differs_from_ledger',
  holdOutOfRange: 'hold_out_of_range',
  lapsedHoldNotRecorded: 'lapsed_hold_not_recorded',
  legacyAccount: 'legacy_account',
} as const;
export type AuditProblemKind = (typeof AuditProblemKind)[keyof typeof AuditProblemKind];

export type AuditReport = {
  readonly checked: number;
  readonly problems: readonly AuditProblem[];
  /** Pass back as `cursor` for the next page; absent when the table is done. */
  readonly nextCursor?: string;
};

export type AuditRequest = {
  readonly customerId?: string;
  /** Accounts per page in whole-table mode; default 100. */
  readonly limit?: number;
  readonly cursor?: string;
  readonly nowMs?: number;
};

const DEFAULT_LIMIT = 100;
const CONCURRENCY = 4;
/** Reads of a customer that keeps changing under the audit before it checks what it has. */
const MAX_READS = 3;

export async function audit(deps: StoreDeps, request: AuditRequest): Promise<AuditReport> {
  if (request.customerId !== undefined) {
    const problems = await auditCustomer(deps, request.customerId, request.nowMs);
    return problems === undefined ? { checked: 0, problems: [] } : { checked: 1, problems };
  }
  const page = await scanAccounts(deps, {
    limit: request.limit ?? DEFAULT_LIMIT,
    ...(request.cursor && { startKey: decodeCursor(request.cursor) }),
  });
  const problems: AuditProblem[] = [];
  let next = 0;
  const worker = async () => {
    while (next < page.accounts.length) {
      const account = page.accounts[next++];
      if (!account) continue;
      if (account.legacy) {
        problems.push(legacyProblem(account.customerId));
        continue;
      }
      problems.push(...((await auditCustomer(deps, account.customerId, request.nowMs)) ?? []));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  problems.sort((a, b) => (a.customerId < b.customerId ? -1 : a.customerId > b.customerId ? 1 : 0));
  return {
    checked: page.accounts.length,
    problems,
    ...(page.nextKey && { nextCursor: encodeCursor(page.nextKey) }),
  };
}

function legacyProblem(customerId: string): AuditProblem {
  return {
    customerId,
    problem: AuditProblemKind.legacyAccount,
    expected: 'the current item shape',
    actual: 'a 0.1.0 account item: run `npm run migrate`',
  };
}

/**
 * Undefined when the customer has neither state nor ledger. The state is read before and
 * after the ledger: a writer landing in between changes the lots' sum, and the audit reads
 * again rather than reporting a difference that was never there.
 */
async function auditCustomer(
  deps: StoreDeps,
  customerId: string,
  nowMs: number | undefined,
): Promise<AuditProblem[] | undefined> {
  const read = () => readState(deps, customerId, farBudget(), { migrateLegacy: false });
  let before = await read();
  if (before.legacy) return [legacyProblem(customerId)];
  for (let reads = 1; ; reads++) {
    const ledger = await wholeLedger(deps, customerId, farBudget());
    const after = await read();
    const settled = bookBalance(after.state.lots) === bookBalance(before.state.lots);
    if (settled || reads === MAX_READS) {
      const state = after.state;
      if (state.version === 0 && state.lots.length === 0) {
        return ledger.length === 0 ? undefined : [orphanLedger(customerId, ledger.length)];
      }
      return checkCustomer(state, ledger, nowMs);
    }
    before = after;
  }
}

function orphanLedger(customerId: string, entries: number): AuditProblem {
  return {
    customerId,
    problem: AuditProblemKind.ledgerWithoutAccount,
    expected: 'an account item',
    actual: `${entries} ledger entries and no account`,
  };
}

/** An ops pass may take its time: each read gets the default budget anew. */
function farBudget() {
  return { deadlineMs: Date.now() + 30_000 };
}

/** C14 for one customer, given its state and its whole ledger. Pure. */
export function checkCustomer(
  state: CustomerState,
  ledger: readonly LedgerItem[],
  nowMs?: number,
): AuditProblem[] {
  const customerId = state.customerId;
  const problems: AuditProblem[] = [];
  const report = (problem: Omit<AuditProblem, 'customerId'>) =>
    problems.push({ customerId, ...problem });
  // C23: what a customer owes was taken out of the ledger without being in any lot.
  const lotsSum = bookBalance(state.lots) - totalDebt(state.facts);
  const ledgerSum = ledger.reduce((sum, entry) => sum + entry.amount, 0);
  if (ledgerSum !== lotsSum) {
    report({
      problem: AuditProblemKind.ledgerSumDiffersFromLots,
      expected: lotsSum,
      actual: ledgerSum,
    });
  }
  const counted = state.lots.filter((lot) => !lot.quiet).length;
  if (counted !== state.lotCount) {
    report({
      problem: AuditProblemKind.lotCountDiffers,
      expected: counted,
      actual: state.lotCount,
    });
  }
  for (const lot of state.lots) {
    const range = lot.forfeit
      ? lot.remaining === 0
      : lot.remaining > 0 && lot.remaining <= lot.granted;
    if (!range) {
      report({
        problem: AuditProblemKind.lotRemainingOutOfRange,
        lotId: lot.id,
        expected: lot.forfeit ? '0 (forfeited)' : `0 < remaining <= ${lot.granted}`,
        actual: lot.remaining,
      });
    }
    if (nowMs !== undefined && lot.expiresAtMs <= nowMs && lot.remaining > 0) {
      report({
        problem: AuditProblemKind.expiredLotNotReclaimed,
        lotId: lot.id,
        expected: `reclaimed by the expiry job for ${toIso(nowMs)} (expired ${toIso(lot.expiresAtMs)})`,
        actual: lot.remaining,
      });
    }
  }
  problems.push(...checkHolds(state, ledger, nowMs));
  // C23: a debt is owed, never a negative balance (C1).
  const negative = ledger.find((entry) => entry.balanceAfter < 0);
  if (negative) {
    report({
      problem: AuditProblemKind.negativeBalanceAfter,
      expected: '>= 0',
      actual: negative.balanceAfter,
      entry: negative.sk,
    });
  }
  return problems;
}

/** C14/C25 for the customer's holds (see the list at the top). */
function checkHolds(
  state: CustomerState,
  ledger: readonly LedgerItem[],
  nowMs: number | undefined,
): AuditProblem[] {
  const customerId = state.customerId;
  const holds = holdsOf(state);
  const problems: AuditProblem[] = [];
  const held = holds.reduce((sum, hold) => sum + hold.amount, 0);
  // 0 - sum, not -sum: nothing held must read 0, not -0.
  const heldByLedger =
    0 -
    ledger
      .filter((entry) => entry.type === EntryType.hold || entry.type === EntryType.release)
      .reduce((sum, entry) => sum + entry.amount, 0);
  if (held !== heldByLedger) {
    problems.push({
      customerId,
      problem: AuditProblemKind.heldDiffersFromLedger,
      expected: heldByLedger,
      actual: held,
    });
  }
  for (const hold of holds) {
    if (!holdInRange(hold)) {
      problems.push({
        customerId,
        holdId: hold.id,
        problem: AuditProblemKind.holdOutOfRange,
        expected: `parts adding up to ${hold.amount} > 0, each within its lot`,
        actual: JSON.stringify(hold.parts.map((part) => [part.lot.id, part.amount])),
      });
    }
    if (nowMs !== undefined && isLapsedAt(hold, nowMs)) {
      problems.push({
        customerId,
        holdId: hold.id,
        problem: AuditProblemKind.lapsedHoldNotRecorded,
        expected: `recorded by the expiry job for ${toIso(nowMs)} (lapsed ${toIso(hold.expiresAtMs)})`,
        actual: hold.amount,
      });
    }
  }
  return problems;
}

function holdInRange(hold: Hold): boolean {
  return (
    hold.amount > 0 &&
    creditsOf(hold.parts) === hold.amount &&
    hold.parts.every((part) => part.amount > 0 && part.amount <= part.lot.granted)
  );
}

const cursorSchema = z.object({ pk: z.string().min(1), sk: z.string().min(1) });

function encodeCursor(key: { pk: string; sk: string }): string {
  return Buffer.from(JSON.stringify({ pk: key.pk, sk: key.sk }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { pk: string; sk: string } {
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new InputError('cursor', 'is not a cursor from a previous audit page');
  }
}
