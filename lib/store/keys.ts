/**
 * One table holds everything, keyed so that a customer's state, ledger and applied facts
 * share a partition (read together, written in one transaction):
 *
 *   pk = CUST#<customer>  sk = ACCOUNT              live lots, counters, subscription facts
 *   pk = CUST#<customer>  sk = LEDGER#<seq, 12 digits>  immutable ledger entries (C13)
 *   pk = CUST#<customer>  sk = FACT#<kind>#<key>    applied commands: natural key -> outcome
 *   pk = CODE#<code>      sk = CODE                 referral code -> its owner (C9)
 *
 * The `expiring` index is sparse: only account items holding live lots carry its keys
 * (expiryShard, nextExpiryAt), so the expiry job reads the customers whose soonest lot has
 * expired and nobody else.
 */
export const ACCOUNT_SK = 'ACCOUNT';
export const LEDGER_PREFIX = 'LEDGER#';
export const FACT_PREFIX = 'FACT#';
export const CODE_SK = 'CODE';

/** Index partitions, so index writes for many customers never pile onto one partition. */
export const EXPIRY_SHARDS = 8;

export function customerPk(customerId: string): string {
  return `CUST#${customerId}`;
}

export function accountKey(customerId: string) {
  return { pk: customerPk(customerId), sk: ACCOUNT_SK };
}

export function ledgerKey(customerId: string, seq: number) {
  return { pk: customerPk(customerId), sk: `${LEDGER_PREFIX}${String(seq).padStart(12, '0')}` };
}

export function factKey(customerId: string, key: string) {
  return { pk: customerPk(customerId), sk: `${FACT_PREFIX}${key}` };
}

export function codeKey(code: string) {
  return { pk: `CODE#${code}`, sk: CODE_SK };
}

/** A stable shard for a customer (FNV-1a), so its index entry never moves between shards. */
export function expiryShard(customerId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < customerId.length; i++) {
    hash ^= customerId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `EXPIRY#${hash % EXPIRY_SHARDS}`;
}

export function allExpiryShards(): string[] {
  return Array.from({ length: EXPIRY_SHARDS }, (_, i) => `EXPIRY#${i}`);
}
