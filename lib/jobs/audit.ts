import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { toIso } from '../credits/time';
import { InputError } from '../errors';
import { queryLedger, readAccountItem } from '../ledger/queries';
import type { StoreDeps } from '../store/client';
import type { AccountItem, LedgerItem } from '../store/codec';
import { callStore } from '../store/command';
import { ACCOUNT_SK, LEDGER_PREFIX } from '../store/keys';

/**
 * The `audit` action (ops, after an incident): checks C14 for one customer, or for the whole
 * table a page at a time. For each account it compares
 * - the stored `balance` attribute, the sum of the lots' remaining credits, the sum of the
 *   ledger's amounts, and the last entry's balanceAfter (all four must be equal);
 * - every lot: 0 < remaining <= granted;
 * - the ledger: seqs 1..ledgerSeq with no gap, each balanceAfter the running sum;
 * - with `now`: no lot expired at `now` is still held, i.e. the expiry job has run for `now`
 *   (C14: only then does the ledger equal the spendable balance).
 * The whole-table mode Scans the table (filtered to account items): an ops tool that reads
 * everything once, on purpose, unlike the expiry job, which never scans.
 */
export type AuditProblem = {
  readonly customerId: string;
  readonly problem: AuditProblemKind;
  readonly expected: number | string;
  readonly actual: number | string;
  readonly lotId?: string;
  readonly seq?: number;
};

export const AuditProblemKind = {
  balanceDiffersFromLots: 'balance_differs_from_lots',
  ledgerSumDiffersFromLots: 'ledger_sum_differs_from_lots',
  lastBalanceAfterDiffersFromLots: 'last_balance_after_differs_from_lots',
  lotRemainingOutOfRange: 'lot_remaining_out_of_range',
  ledgerSeqGap: 'ledger_seq_gap',
  ledgerLengthDiffersFromSeq: 'ledger_length_differs_from_seq',
  balanceAfterNotRunningSum: 'balance_after_not_running_sum',
  ledgerWithoutAccount: 'ledger_without_account',
  expiredLotNotReclaimed: 'expired_lot_not_reclaimed',
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
/** Scan calls one page may make: bounds an invocation on a table of mostly ledger items. */
const MAX_SCAN_CALLS = 50;
const CONCURRENCY = 4;

export async function audit(deps: StoreDeps, request: AuditRequest): Promise<AuditReport> {
  if (request.customerId !== undefined) {
    const problems = await auditCustomer(deps, request.customerId, request.nowMs);
    return problems === undefined ? { checked: 0, problems: [] } : { checked: 1, problems };
  }
  const page = await scanAccounts(deps, request.limit ?? DEFAULT_LIMIT, request.cursor);
  const problems: AuditProblem[] = [];
  let next = 0;
  const worker = async () => {
    while (next < page.accounts.length) {
      const item = page.accounts[next++];
      if (item) problems.push(...(await auditAccount(deps, item, request.nowMs)));
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

/** Undefined when the customer has neither an account nor a ledger. */
async function auditCustomer(
  deps: StoreDeps,
  customerId: string,
  nowMs: number | undefined,
): Promise<AuditProblem[] | undefined> {
  const item = await readAccountItem(deps, customerId);
  if (item) return auditAccount(deps, item, nowMs);
  const ledger = await readLedger(deps, customerId);
  if (ledger.length === 0) return undefined;
  return [
    {
      customerId,
      problem: AuditProblemKind.ledgerWithoutAccount,
      expected: 'an account item',
      actual: `${ledger.length} ledger entries and no account`,
    },
  ];
}

/**
 * Reads the ledger after the account. Entries up to the account's ledgerSeq were written in
 * the same transactions as the account and never change; an entry beyond it is either a
 * writer that got in between (the account's version moved: read again) or a real problem.
 */
async function auditAccount(
  deps: StoreDeps,
  first: AccountItem,
  nowMs: number | undefined,
): Promise<AuditProblem[]> {
  let item = first;
  for (let attempt = 1; ; attempt++) {
    const ledger = await readLedger(deps, item.customerId);
    const beyond = ledger.some((entry) => seqOf(entry) > (item.ledgerSeq ?? 0));
    if (!beyond || attempt === 3) return checkAccount(item, ledger, nowMs);
    const again = await readAccountItem(deps, item.customerId);
    if (!again || again.version === item.version) return checkAccount(item, ledger, nowMs);
    item = again;
  }
}

/** C14 for one account, given its item and its whole ledger in seq order. Pure. */
export function checkAccount(
  item: AccountItem,
  ledger: readonly LedgerItem[],
  nowMs?: number,
): AuditProblem[] {
  const customerId = item.customerId;
  const problems: AuditProblem[] = [];
  const report = (problem: Omit<AuditProblem, 'customerId'>) =>
    problems.push({ customerId, ...problem });
  // An account item written only by a referral-code request has no balance, ledgerSeq or lots
  // yet; like the codec, read those as 0 and none.
  const balance = item.balance ?? 0;
  const lots = Object.entries(item.lots ?? {});
  const lotsSum = lots.reduce((sum, [, lot]) => sum + lot.remaining, 0);
  const ledgerSum = ledger.reduce((sum, entry) => sum + entry.amount, 0);
  const lastBalanceAfter = ledger.at(-1)?.balanceAfter ?? 0;
  if (balance !== lotsSum) {
    report({
      problem: AuditProblemKind.balanceDiffersFromLots,
      expected: lotsSum,
      actual: balance,
    });
  }
  if (ledgerSum !== lotsSum) {
    report({
      problem: AuditProblemKind.ledgerSumDiffersFromLots,
      expected: lotsSum,
      actual: ledgerSum,
    });
  }
  if (lastBalanceAfter !== lotsSum) {
    report({
      problem: AuditProblemKind.lastBalanceAfterDiffersFromLots,
      expected: lotsSum,
      actual: lastBalanceAfter,
    });
  }
  for (const [lotId, lot] of lots) {
    if (!(lot.remaining > 0 && lot.remaining <= lot.granted)) {
      report({
        problem: AuditProblemKind.lotRemainingOutOfRange,
        lotId,
        expected: `0 < remaining <= ${lot.granted}`,
        actual: lot.remaining,
      });
    }
    if (nowMs !== undefined && Date.parse(lot.expiresAt) <= nowMs) {
      report({
        problem: AuditProblemKind.expiredLotNotReclaimed,
        lotId,
        expected: `reclaimed by the expiry job for ${toIso(nowMs)} (expired ${lot.expiresAt})`,
        actual: lot.remaining,
      });
    }
  }
  problems.push(...checkLedger(item, ledger));
  return problems;
}

function checkLedger(item: AccountItem, ledger: readonly LedgerItem[]): AuditProblem[] {
  const customerId = item.customerId;
  const problems: AuditProblem[] = [];
  const ledgerSeq = item.ledgerSeq ?? 0;
  if (ledger.length !== ledgerSeq) {
    problems.push({
      customerId,
      problem: AuditProblemKind.ledgerLengthDiffersFromSeq,
      expected: ledgerSeq,
      actual: ledger.length,
    });
  }
  const gap = ledger.findIndex((entry, index) => seqOf(entry) !== index + 1);
  if (gap >= 0) {
    const entry = ledger[gap] as LedgerItem;
    problems.push({
      customerId,
      problem: AuditProblemKind.ledgerSeqGap,
      expected: gap + 1,
      actual: seqOf(entry),
    });
  }
  // The first entry whose balanceAfter is not the running sum; later ones follow from it.
  let running = 0;
  for (const entry of ledger) {
    running += entry.amount;
    if (entry.balanceAfter !== running) {
      problems.push({
        customerId,
        problem: AuditProblemKind.balanceAfterNotRunningSum,
        seq: seqOf(entry),
        expected: running,
        actual: entry.balanceAfter,
      });
      break;
    }
  }
  return problems;
}

function seqOf(entry: LedgerItem): number {
  return Number(entry.sk.slice(LEDGER_PREFIX.length));
}

/** The whole ledger of a customer, oldest first. */
async function readLedger(deps: StoreDeps, customerId: string): Promise<LedgerItem[]> {
  const entries: LedgerItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await queryLedger(deps, customerId, {
      newestFirst: false,
      ...(startKey && { startKey }),
    });
    entries.push(...page.items);
    startKey = page.lastKey;
  } while (startKey);
  return entries;
}

type TableKey = { pk: string; sk: string };

/**
 * Up to `limit` account items from where `cursor` left off. When a Scan page holds more than
 * the page wants, the cursor is the last account taken: any item's key is a valid place for
 * a Scan to resume after.
 */
async function scanAccounts(deps: StoreDeps, limit: number, cursor: string | undefined) {
  const accounts: AccountItem[] = [];
  let startKey: Record<string, unknown> | undefined = cursor ? decodeCursor(cursor) : undefined;
  for (let calls = 0; calls < MAX_SCAN_CALLS && accounts.length < limit; calls++) {
    const response = await callStore('Scan', () =>
      deps.db.send(
        new ScanCommand({
          TableName: deps.tableName,
          FilterExpression: 'sk = :account',
          ExpressionAttributeValues: { ':account': ACCOUNT_SK },
          ConsistentRead: true,
          ...(startKey && { ExclusiveStartKey: startKey }),
        }),
      ),
    );
    const items = (response.Items ?? []) as AccountItem[];
    const room = limit - accounts.length;
    accounts.push(...items.slice(0, room));
    if (items.length > room) {
      const last = accounts.at(-1) as AccountItem;
      return { accounts, nextKey: { pk: last.pk, sk: last.sk } };
    }
    startKey = response.LastEvaluatedKey;
    if (!startKey) return { accounts };
  }
  return { accounts, ...(startKey && { nextKey: startKey }) };
}

const cursorSchema = z.object({ pk: z.string().min(1), sk: z.string().min(1) });

function encodeCursor(key: Record<string, unknown>): string {
  const { pk, sk } = key as TableKey;
  return Buffer.from(JSON.stringify({ pk, sk }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): TableKey {
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new InputError('cursor', 'is not a cursor from a previous audit page');
  }
}
