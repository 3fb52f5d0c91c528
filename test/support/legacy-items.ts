import { BatchWriteCommand, DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { fingerprint } from '../../lib/ledger/deps';
import type { StoreDeps } from '../../lib/store/client';
import { SCHEMA_KEY } from '../../lib/store/keys';
import { freshTable } from './table';

/**
 * Items in the shape 0.1.0 wrote them (its lib/store/codec.ts and keys.ts), for the proof that
 * tables written by 0.1.0 keep working. Written here by hand, not with today's codec, so that a
 * change of the current code cannot quietly change what "0.1.0-shaped" means; only the facts'
 * fingerprints use today's `fingerprint`, which is 0.1.0's sorted-key JSON unchanged.
 *
 *   pk = CUST#<id>  sk = ACCOUNT                 the whole state: lots map, subscriptions, counters
 *   pk = CUST#<id>  sk = LEDGER#<12-digit seq>   ledger entries, numbered
 *   pk = CUST#<id>  sk = FACT#<kind>#<key>       applied commands (FACT#referral: one per referee)
 *   pk = CODE#<code> sk = CODE                   referral code -> owner
 */
export type LegacyLot = {
  readonly id: string;
  readonly source: 'subscription' | 'referral_bonus' | 'adjustment';
  readonly granted: number;
  readonly remaining: number;
  readonly grantedAt: string;
  readonly expiresAt: string;
  readonly ref: string;
};

export type LegacyEntry = {
  readonly type: string;
  readonly amount: number;
  readonly at: string;
  readonly ref: string;
  readonly reason?: string;
  readonly lots: readonly { lotId: string; amount: number }[];
};

export type LegacyFact = {
  readonly key: string;
  readonly data: unknown;
  readonly outcome: unknown;
};

export type LegacyCustomer = {
  readonly customerId: string;
  readonly version: number;
  readonly lots: readonly LegacyLot[];
  readonly activeSubscriptions?: Readonly<Record<string, string>>;
  readonly endedSubscriptions?: Readonly<Record<string, string>>;
  readonly firstPaidInvoice?: { readonly id: string; readonly at: string };
  readonly referralCode?: string;
  readonly redemption?: { code: string; referrerId: string; invoiceId: string };
  readonly entries: readonly LegacyEntry[];
  readonly facts?: readonly LegacyFact[];
};

/** 0.1.0's expiry index shard (8 shards, FNV-1a of the customer id). */
function expiryShard(customerId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < customerId.length; i++) {
    hash ^= customerId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `EXPIRY#${hash % 8}`;
}

export function legacyItems(customer: LegacyCustomer): Record<string, unknown>[] {
  const pk = `CUST#${customer.customerId}`;
  const balance = customer.lots.reduce((sum, lot) => sum + lot.remaining, 0);
  const next = customer.lots.map((lot) => lot.expiresAt).sort()[0];
  const account = {
    pk,
    sk: 'ACCOUNT',
    customerId: customer.customerId,
    version: customer.version,
    ledgerSeq: customer.entries.length,
    balance,
    lots: Object.fromEntries(customer.lots.map(({ id, ...lot }) => [id, lot])),
    endedSubscriptions: customer.endedSubscriptions ?? {},
    activeSubscriptions: customer.activeSubscriptions ?? {},
    ...(customer.firstPaidInvoice && { firstPaidInvoice: customer.firstPaidInvoice }),
    ...(customer.referralCode && { referralCode: customer.referralCode }),
    ...(customer.redemption && { redemption: customer.redemption }),
    ...(next && { expiryShard: expiryShard(customer.customerId), nextExpiryAt: next }),
  };
  let running = 0;
  const ledger = customer.entries.map((entry, index) => {
    running += entry.amount;
    return {
      pk,
      sk: `LEDGER#${String(index + 1).padStart(12, '0')}`,
      ...entry,
      balanceAfter: running,
    };
  });
  const facts = (customer.facts ?? []).map((fact) => ({
    pk,
    sk: `FACT#${fact.key}`,
    fingerprint: fingerprint(fact.data),
    outcome: fact.outcome,
    recordedAt: '2026-11-02T00:00:00.000Z',
  }));
  const code = customer.referralCode
    ? [{ pk: `CODE#${customer.referralCode}`, sk: 'CODE', customerId: customer.customerId }]
    : [];
  return [account, ...ledger, ...facts, ...code];
}

/** A table as 0.1.0 left it: no SCHEMA item, so the current code looks for 0.1.0 items. */
export async function legacyTable(): Promise<StoreDeps & { drop(): Promise<void> }> {
  const table = await freshTable('legacy');
  await table.db.send(new DeleteCommand({ TableName: table.tableName, Key: SCHEMA_KEY }));
  return table;
}

export async function writeItems(deps: StoreDeps, items: readonly Record<string, unknown>[]) {
  for (let start = 0; start < items.length; start += 25) {
    let pending = items.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } }));
    for (let round = 0; pending.length > 0; round++) {
      if (round === 10) throw new Error('BatchWriteItem kept items unprocessed');
      const response = await deps.db.send(
        new BatchWriteCommand({ RequestItems: { [deps.tableName]: pending } }),
      );
      pending = (response.UnprocessedItems?.[deps.tableName] ?? []) as typeof pending;
    }
  }
}
