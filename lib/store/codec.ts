import type { Account, LedgerEntry } from '../credits/account';
import type { Lot, LotSource } from '../credits/lots';
import { bookBalance, nextExpiryMs } from '../credits/lots';
import { toIso } from '../credits/time';
import { accountKey, expiryShard, ledgerKey } from './keys';

/**
 * Items keep times as ISO-8601 strings so that ops reading the table see dates, and so the
 * index's sort key orders by time.
 */
type LotItem = {
  source: LotSource;
  granted: number;
  remaining: number;
  grantedAt: string;
  expiresAt: string;
  ref: string;
};

export type AccountItem = {
  pk: string;
  sk: string;
  customerId: string;
  version: number;
  ledgerSeq: number;
  /** The book balance, kept beside the lots so that an audit can compare the two (C14). */
  balance: number;
  lots: Record<string, LotItem>;
  endedSubscriptions: Record<string, string>;
  activeSubscriptions: Record<string, string>;
  firstPaidInvoice?: { id: string; at: string };
  referralCode?: string;
  redemption?: { code: string; referrerId: string; invoiceId: string };
  expiryShard?: string;
  nextExpiryAt?: string;
};

export function lotFromItem(id: string, item: LotItem): Lot {
  return {
    id,
    source: item.source,
    granted: item.granted,
    remaining: item.remaining,
    grantedAtMs: Date.parse(item.grantedAt),
    expiresAtMs: Date.parse(item.expiresAt),
    ref: item.ref,
  };
}

function mapValues<A, B>(record: Record<string, A>, fn: (value: A) => B): Record<string, B> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, fn(value)]));
}

export function accountFromItem(item: AccountItem): Account {
  return {
    customerId: item.customerId,
    version: item.version,
    ledgerSeq: item.ledgerSeq ?? 0,
    lots: Object.entries(item.lots ?? {}).map(([id, lot]) => lotFromItem(id, lot)),
    endedSubscriptions: mapValues(item.endedSubscriptions ?? {}, Date.parse),
    activeSubscriptions: mapValues(item.activeSubscriptions ?? {}, Date.parse),
    ...(item.firstPaidInvoice && {
      firstPaidInvoice: {
        id: item.firstPaidInvoice.id,
        atMs: Date.parse(item.firstPaidInvoice.at),
      },
    }),
    ...(item.referralCode && { referralCode: item.referralCode }),
    ...(item.redemption && { redemption: item.redemption }),
  };
}

/** The item to write for `account` as its next version. */
export function accountToItem(account: Account): AccountItem {
  const next = nextExpiryMs(account.lots);
  return {
    ...accountKey(account.customerId),
    customerId: account.customerId,
    version: account.version + 1,
    ledgerSeq: account.ledgerSeq,
    balance: bookBalance(account.lots),
    lots: Object.fromEntries(
      account.lots.map((lot) => [
        lot.id,
        {
          source: lot.source,
          granted: lot.granted,
          remaining: lot.remaining,
          grantedAt: toIso(lot.grantedAtMs),
          expiresAt: toIso(lot.expiresAtMs),
          ref: lot.ref,
        },
      ]),
    ),
    endedSubscriptions: mapValues(account.endedSubscriptions, toIso),
    activeSubscriptions: mapValues(account.activeSubscriptions, toIso),
    ...(account.firstPaidInvoice && {
      firstPaidInvoice: {
        id: account.firstPaidInvoice.id,
        at: toIso(account.firstPaidInvoice.atMs),
      },
    }),
    ...(account.referralCode && { referralCode: account.referralCode }),
    ...(account.redemption && { redemption: account.redemption }),
    // Sparse index: present only while there is a lot that will expire.
    ...(next !== undefined && {
      expiryShard: expiryShard(account.customerId),
      nextExpiryAt: toIso(next),
    }),
  };
}

export type LedgerItem = {
  pk: string;
  sk: string;
  type: LedgerEntry['type'];
  amount: number;
  balanceAfter: number;
  at: string;
  ref: string;
  reason?: string;
  lots: { lotId: string; amount: number }[];
};

export function ledgerEntryToItem(customerId: string, entry: LedgerEntry): LedgerItem {
  return {
    ...ledgerKey(customerId, entry.seq),
    type: entry.type,
    amount: entry.amount,
    balanceAfter: entry.balanceAfter,
    at: toIso(entry.atMs),
    ref: entry.ref,
    ...(entry.reason !== undefined && { reason: entry.reason }),
    lots: entry.lots.map((burn) => ({ lotId: burn.lotId, amount: burn.amount })),
  };
}
