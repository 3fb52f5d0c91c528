import type { Lot, LotSource } from '../credits/lots';
import {
  type CustomerFacts,
  type CustomerState,
  emptyState,
  type LedgerEntry,
  type SubscriptionFacts,
} from '../credits/state';
import { toIso } from '../credits/time';
import {
  ACCOUNT_SK,
  dueMarkerKey,
  LOT_PREFIX,
  ledgerKey,
  lotKey,
  lotShard,
  SUBSCRIPTION_PREFIX,
  subscriptionKey,
} from './keys';

/**
 * The items as stored. Times are ISO-8601 strings, so that ops reading the table see dates
 * and the index's sort key orders by time.
 */
export type LotItem = {
  pk: string;
  sk: string;
  customerId: string;
  lotId: string;
  source: LotSource;
  granted: number;
  remaining: number;
  grantedAt: string;
  expiresAt: string;
  ref: string;
  /** The `lotsByExpiry` index's partition key. */
  lotShard: string;
  /** A subscription's end took this lot's credits (C7): which, and how many. */
  forfeit?: { by: string; credits: number };
  quiet?: boolean;
  subscriptionId?: string;
  /** C19: when Stripe billed the lot's purchase; absent on lots stored before (see Lot). */
  purchasedAt?: string;
  /** C19: a month of an invoice's top-up (lots stored before mark their id instead). */
  topUp?: true;
  /** C20: granted in the future, not yet in the ledger (see dueMarkerToItem). */
  upcoming?: true;
};

/**
 * An upcoming lot's due marker: it carries the `lotsByExpiry` index keys with the lot's grant
 * time as `expiresAt`, so that the daily job, which sweeps that index for what is due by now,
 * finds the lot on the day it must enter the ledger (C20). Deleted when the lot is released.
 */
export type DueMarkerItem = {
  pk: string;
  sk: string;
  customerId: string;
  lotId: string;
  lotShard: string;
  expiresAt: string;
};

export type AccountItem = {
  pk: string;
  sk: string;
  customerId: string;
  version: number;
  lotsVersion?: number;
  lotCount?: number;
  firstPurchase?: { id: string; at: string };
  referralCode?: string;
  redemption?: { code: string; referrerId: string; invoiceId: string };
  /** C23: what the customer owes, by the purchase whose reversal found the credits spent. */
  debts?: Record<string, { credits: number; at: string }>;
};

export type SubscriptionItem = {
  pk: string;
  sk: string;
  customerId: string;
  subscriptionId: string;
  activeSince?: string;
  endedAt?: string;
  firstPaidAt?: string;
  freeStartAt?: string;
  /** C19: what downgrades still have to cancel, by invoice id (lib/credits/downgrades.ts). */
  downgrades?: Record<
    string,
    {
      at: string;
      before: string;
      billedAt: string;
      credits: number;
      /** Absent on records stored before: `credits` is then what was still to cancel. */
      cuts?: Record<string, number>;
    }
  >;
  /** C19: months cut to nothing, kept to give a moved cut back. */
  cutLots?: Record<string, { grantedAt: string; purchasedAt?: string; topUp?: true; ref: string }>;
  /** C7/C19: what the end cancelled after it, for downgrades delivered later. */
  endCuts?: { grantedAt: string; purchasedAt?: string; topUp?: true; credits: number }[];
  /** C19/C22: what reversals took from its months, by lot, then by purchase reversed. */
  refunded?: Record<
    string,
    {
      grantedAt: string;
      purchasedAt?: string;
      topUp?: true;
      ref: string;
      by: Record<string, { credits: number; at: string }>;
    }
  >;
};

export type LedgerItem = {
  pk: string;
  sk: string;
  customerId?: string;
  /** The entry's id (C27); absent on entries written by 0.1.0, whose key is a sequence number. */
  id?: string;
  type: LedgerEntry['type'];
  amount: number;
  balanceAfter: number;
  at: string;
  ref: string;
  reason?: string;
  lots: { lotId: string; amount: number }[];
  recordedAt?: string;
  /** C23: how much the entry moved the customer's debt, and the debt after it. */
  debt?: number;
  debtAfter?: number;
};

export function lotToItem(customerId: string, lot: Lot): LotItem {
  return {
    ...lotKey(customerId, lot),
    customerId,
    lotId: lot.id,
    source: lot.source,
    granted: lot.granted,
    remaining: lot.remaining,
    grantedAt: toIso(lot.grantedAtMs),
    expiresAt: toIso(lot.expiresAtMs),
    ref: lot.ref,
    lotShard: lotShard(customerId),
    ...(lot.forfeit && { forfeit: lot.forfeit }),
    ...(lot.quiet && { quiet: true }),
    ...(lot.subscriptionId !== undefined && { subscriptionId: lot.subscriptionId }),
    ...(lot.purchasedAtMs !== undefined && { purchasedAt: toIso(lot.purchasedAtMs) }),
    ...(lot.topUp && { topUp: true as const }),
    ...(lot.upcoming && { upcoming: true }),
  };
}

export function dueMarkerToItem(customerId: string, lot: Lot): DueMarkerItem {
  return {
    ...dueMarkerKey(customerId, lot),
    customerId,
    lotId: lot.id,
    lotShard: lotShard(customerId),
    expiresAt: toIso(lot.grantedAtMs),
  };
}

export function lotFromItem(item: LotItem): Lot {
  return {
    id: item.lotId,
    source: item.source,
    granted: item.granted,
    remaining: item.remaining,
    grantedAtMs: Date.parse(item.grantedAt),
    expiresAtMs: Date.parse(item.expiresAt),
    ref: item.ref,
    ...(item.forfeit && { forfeit: item.forfeit }),
    ...(item.quiet && { quiet: true }),
    ...(item.subscriptionId !== undefined && { subscriptionId: item.subscriptionId }),
    ...(item.purchasedAt !== undefined && { purchasedAtMs: Date.parse(item.purchasedAt) }),
    ...(item.topUp && { topUp: true as const }),
    ...(item.upcoming && { upcoming: true as const }),
  };
}

export function subscriptionToItem(
  customerId: string,
  subscriptionId: string,
  facts: SubscriptionFacts,
): SubscriptionItem {
  return {
    ...subscriptionKey(customerId, subscriptionId),
    customerId,
    subscriptionId,
    ...(facts.activeSinceMs !== undefined && { activeSince: toIso(facts.activeSinceMs) }),
    ...(facts.endedAtMs !== undefined && { endedAt: toIso(facts.endedAtMs) }),
    ...(facts.firstPaidMs !== undefined && { firstPaidAt: toIso(facts.firstPaidMs) }),
    ...(facts.freeStartMs !== undefined && { freeStartAt: toIso(facts.freeStartMs) }),
    ...(facts.downgrades && {
      downgrades: Object.fromEntries(
        Object.entries(facts.downgrades).map(([id, each]) => [
          id,
          {
            at: toIso(each.atMs),
            before: toIso(each.beforeMs),
            billedAt: toIso(each.billedAtMs),
            credits: each.credits,
            ...(each.cuts !== undefined && { cuts: { ...each.cuts } }),
          },
        ]),
      ),
    }),
    ...(facts.cutLots && {
      cutLots: Object.fromEntries(
        Object.entries(facts.cutLots).map(([id, each]) => [
          id,
          {
            grantedAt: toIso(each.grantedAtMs),
            ...(each.purchasedAtMs !== undefined && { purchasedAt: toIso(each.purchasedAtMs) }),
            ...(each.topUp && { topUp: true as const }),
            ref: each.ref,
          },
        ]),
      ),
    }),
    ...(facts.endCuts && {
      endCuts: facts.endCuts.map((cut) => ({
        grantedAt: toIso(cut.grantedAtMs),
        ...(cut.purchasedAtMs !== undefined && { purchasedAt: toIso(cut.purchasedAtMs) }),
        ...(cut.topUp && { topUp: true as const }),
        credits: cut.credits,
      })),
    }),
    ...(facts.refunded && {
      refunded: Object.fromEntries(
        Object.entries(facts.refunded).map(([id, month]) => [
          id,
          {
            grantedAt: toIso(month.grantedAtMs),
            ...(month.purchasedAtMs !== undefined && { purchasedAt: toIso(month.purchasedAtMs) }),
            ...(month.topUp && { topUp: true as const }),
            ref: month.ref,
            by: Object.fromEntries(
              Object.entries(month.by).map(([purchaseId, each]) => [
                purchaseId,
                { credits: each.credits, at: toIso(each.atMs) },
              ]),
            ),
          },
        ]),
      ),
    }),
  };
}

function subscriptionFromItem(item: SubscriptionItem): SubscriptionFacts {
  return {
    ...(item.activeSince && { activeSinceMs: Date.parse(item.activeSince) }),
    ...(item.endedAt && { endedAtMs: Date.parse(item.endedAt) }),
    ...(item.firstPaidAt && { firstPaidMs: Date.parse(item.firstPaidAt) }),
    ...(item.freeStartAt && { freeStartMs: Date.parse(item.freeStartAt) }),
    ...(item.downgrades && {
      downgrades: Object.fromEntries(
        Object.entries(item.downgrades).map(([id, each]) => [
          id,
          {
            atMs: Date.parse(each.at),
            beforeMs: Date.parse(each.before),
            billedAtMs: Date.parse(each.billedAt),
            credits: each.credits,
            ...(each.cuts !== undefined && { cuts: { ...each.cuts } }),
          },
        ]),
      ),
    }),
    ...(item.cutLots && {
      cutLots: Object.fromEntries(
        Object.entries(item.cutLots).map(([id, each]) => [
          id,
          {
            grantedAtMs: Date.parse(each.grantedAt),
            ...(each.purchasedAt !== undefined && { purchasedAtMs: Date.parse(each.purchasedAt) }),
            ...(each.topUp && { topUp: true as const }),
            ref: each.ref,
          },
        ]),
      ),
    }),
    ...(item.endCuts && {
      endCuts: item.endCuts.map((cut) => ({
        grantedAtMs: Date.parse(cut.grantedAt),
        ...(cut.purchasedAt !== undefined && { purchasedAtMs: Date.parse(cut.purchasedAt) }),
        ...(cut.topUp && { topUp: true as const }),
        credits: cut.credits,
      })),
    }),
    ...(item.refunded && {
      refunded: Object.fromEntries(
        Object.entries(item.refunded).map(([id, month]) => [
          id,
          {
            grantedAtMs: Date.parse(month.grantedAt),
            ...(month.purchasedAt !== undefined && {
              purchasedAtMs: Date.parse(month.purchasedAt),
            }),
            ...(month.topUp && { topUp: true as const }),
            ref: month.ref,
            by: Object.fromEntries(
              Object.entries(month.by).map(([purchaseId, each]) => [
                purchaseId,
                { credits: each.credits, atMs: Date.parse(each.at) },
              ]),
            ),
          },
        ]),
      ),
    }),
  };
}

/** The account item's attributes that hold the facts (written by an Update, see transact.ts). */
export function factsToAttributes(facts: CustomerFacts): Partial<AccountItem> {
  return {
    ...(facts.firstPurchase && {
      firstPurchase: { id: facts.firstPurchase.id, at: toIso(facts.firstPurchase.atMs) },
    }),
    ...(facts.referralCode && { referralCode: facts.referralCode }),
    ...(facts.redemption && { redemption: facts.redemption }),
    // Written whenever known, even empty: a debt repaid must leave the item too.
    ...(facts.debts && {
      debts: Object.fromEntries(
        Object.entries(facts.debts).map(([id, debt]) => [
          id,
          { credits: debt.credits, at: toIso(debt.atMs) },
        ]),
      ),
    }),
  };
}

function factsFromItems(
  account: AccountItem | undefined,
  subscriptions: readonly SubscriptionItem[],
): CustomerFacts {
  return {
    ...(account?.firstPurchase && {
      firstPurchase: {
        id: account.firstPurchase.id,
        atMs: Date.parse(account.firstPurchase.at),
      },
    }),
    ...(account?.referralCode && { referralCode: account.referralCode }),
    ...(account?.redemption && { redemption: account.redemption }),
    ...(account?.debts && {
      debts: Object.fromEntries(
        Object.entries(account.debts).map(([id, debt]) => [
          id,
          { credits: debt.credits, atMs: Date.parse(debt.at) },
        ]),
      ),
    }),
    subscriptions: Object.fromEntries(
      subscriptions.map((item) => [item.subscriptionId, subscriptionFromItem(item)]),
    ),
  };
}

/** A customer's state from the items of one Query of their STATE# range (any order). */
export function stateFromItems(
  customerId: string,
  items: readonly Record<string, unknown>[],
): CustomerState {
  let account: AccountItem | undefined;
  const lots: Lot[] = [];
  const subscriptions: SubscriptionItem[] = [];
  for (const item of items) {
    const sk = item.sk as string;
    if (sk === ACCOUNT_SK) account = item as AccountItem;
    else if (sk.startsWith(LOT_PREFIX)) lots.push(lotFromItem(item as LotItem));
    else if (sk.startsWith(SUBSCRIPTION_PREFIX)) subscriptions.push(item as SubscriptionItem);
  }
  return {
    ...emptyState(customerId),
    version: account?.version ?? 0,
    lotsVersion: account?.lotsVersion ?? 0,
    lotCount: account?.lotCount ?? 0,
    lots,
    facts: factsFromItems(account, subscriptions),
  };
}

export function ledgerEntryToItem(
  customerId: string,
  entry: LedgerEntry,
  recordedAtMs: number,
  index: number,
): LedgerItem {
  return {
    ...ledgerKey(customerId, recordedAtMs, index, entry.id),
    customerId,
    id: entry.id,
    type: entry.type,
    amount: entry.amount,
    balanceAfter: entry.balanceAfter,
    at: toIso(entry.atMs),
    ref: entry.ref,
    ...(entry.reason !== undefined && { reason: entry.reason }),
    lots: entry.lots.map((burn) => ({ lotId: burn.lotId, amount: burn.amount })),
    recordedAt: toIso(recordedAtMs),
    ...(entry.debt !== undefined && { debt: entry.debt }),
    ...(entry.debtAfter !== undefined && { debtAfter: entry.debtAfter }),
  };
}
