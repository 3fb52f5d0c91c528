import { heldAt, lotsAt } from '../credits/holds';
import { byBurnOrder, isSpendableAt, type LotSource, spendableBalance } from '../credits/lots';
import { type CustomerState, type EntryType, totalDebt } from '../credits/state';
import { toIso } from '../credits/time';
import { InputError } from '../errors';
import { type Budget, defaultBudget } from '../store/call';
import type { StoreDeps } from '../store/client';
import type { LedgerItem } from '../store/items';
import { LEDGER_PREFIX } from '../store/keys';
import { queryLedger } from '../store/ledger';
import { readState } from '../store/state';

/** The customer's state as stored now (a customer never written has an empty one). */
export async function readCustomer(
  deps: StoreDeps,
  customerId: string,
  budget: Budget = defaultBudget(),
): Promise<CustomerState> {
  return (await readState(deps, customerId, budget)).state;
}

export type BalanceView = {
  readonly customerId: string;
  readonly balance: number;
  /** C25: what live holds keep, apart from the balance. */
  readonly held: number;
  /** C23: credits owed because a reversal found them spent; later grants repay them first. */
  readonly debt: number;
  readonly lots: readonly {
    source: LotSource;
    granted: number;
    remaining: number;
    grantedAt: string;
    expiresAt: string;
  }[];
  /** C20: lots granted after `atMs` (the months of a longer period still to come). */
  readonly upcoming: readonly {
    source: LotSource;
    granted: number;
    grantedAt: string;
    expiresAt: string;
  }[];
};

/**
 * C6/C14/C25: the balance as of `atMs` counts only spendable lots, whether or not the job ran;
 * what live holds keep is `held`, and a hold lapsed by `atMs` counts as back in its lots.
 */
export async function balanceOf(
  deps: StoreDeps,
  customerId: string,
  atMs: number,
): Promise<BalanceView> {
  const state = await readCustomer(deps, customerId);
  const lots = lotsAt(state, atMs);
  const alive = lots.filter((lot) => isSpendableAt(lot, atMs)).sort(byBurnOrder);
  const later = lots
    .filter((lot) => lot.grantedAtMs > atMs && lot.remaining > 0)
    .sort((a, b) => a.grantedAtMs - b.grantedAtMs || byBurnOrder(a, b));
  return {
    customerId,
    balance: spendableBalance(lots, atMs),
    held: heldAt(state, atMs),
    debt: totalDebt(state.facts),
    lots: alive.map((lot) => ({
      source: lot.source,
      granted: lot.granted,
      remaining: lot.remaining,
      grantedAt: toIso(lot.grantedAtMs),
      expiresAt: toIso(lot.expiresAtMs),
    })),
    upcoming: later.map((lot) => ({
      source: lot.source,
      granted: lot.granted,
      grantedAt: toIso(lot.grantedAtMs),
      expiresAt: toIso(lot.expiresAtMs),
    })),
  };
}

export type LedgerEntryView = {
  readonly type: EntryType;
  readonly amount: number;
  readonly balanceAfter: number;
  readonly at: string;
  readonly ref: string;
  readonly reason?: string;
  /** C23: on entries that moved the debt, what is owed after them. */
  readonly debtAfter?: number;
};

export type LedgerPage = {
  readonly entries: readonly LedgerEntryView[];
  readonly nextCursor?: string;
};

/** The customer's ledger, newest first, a page at a time; `cursor` is the previous page's. */
export async function ledgerOf(
  deps: StoreDeps,
  customerId: string,
  page: { limit?: number; cursor?: string } = {},
): Promise<LedgerPage> {
  // Decoded before the call: inside callStore a bad cursor would become a StoreError (503).
  const afterSk = page.cursor ? decodeCursor(page.cursor) : undefined;
  const response = await queryLedger(deps, customerId, {
    newestFirst: true,
    limit: page.limit ?? 100,
    ...(afterSk && { afterSk }),
  });
  const entries = response.items.map(entryView);
  return response.lastSk ? { entries, nextCursor: encodeCursor(response.lastSk) } : { entries };
}

function entryView(item: LedgerItem): LedgerEntryView {
  return {
    type: item.type,
    amount: item.amount,
    balanceAfter: item.balanceAfter,
    at: item.at,
    ref: item.ref,
    ...(item.reason !== undefined && { reason: item.reason }),
    ...(item.debtAfter !== undefined && { debtAfter: item.debtAfter }),
  };
}

function encodeCursor(sk: string): string {
  return Buffer.from(sk, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const sk = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!sk.startsWith(LEDGER_PREFIX))
    throw new InputError('cursor', 'is not a cursor from a ledger page');
  return sk;
}
