import { toIso } from '../credits/time';

/**
 * One table holds everything. A customer's partition keeps its current state under one sort
 * key prefix, so that one Query reads all of it and nothing else, and its history beside it:
 *
 *   pk = CUST#<customer>  sk = STATE#ACCOUNT                 facts, counters (small, fixed)
 *   pk = CUST#<customer>  sk = STATE#LOT#<expiresAt>#<lot>   one item per lot (C4)
 *   pk = CUST#<customer>  sk = STATE#SUB#<subscription>      one item per subscription
 *   pk = CUST#<customer>  sk = STATE#DUE#<grantAt>#<lot>     an upcoming lot's due marker
 *   pk = CUST#<customer>  sk = STATE#HOLD#<hold>             one item per live hold (C25)
 *   pk = CUST#<customer>  sk = LEDGER#<recordedAt>#<entry>   immutable ledger entries (C13)
 *   pk = CUST#<customer>  sk = FACT#<kind>#<key>             applied commands: key -> outcome
 *   pk = CUST#<customer>  sk = PURCHASE#<purchase>           a purchase's reversals (C22-C24)
 *   pk = PAYMENT#<intent> sk = PAYMENT                       a pack's payment -> its purchase
 *   pk = CODE#<code>      sk = CODE                          referral code -> its owner (C9)
 *   pk = TABLE            sk = SCHEMA                        the data's shape (migrations)
 *
 * No item grows with the number of lots, referrals or spends: each of those is its own item.
 * Lot items carry the keys of the sparse `lotsByExpiry` index (lotShard, expiresAt), which
 * never change after the lot is written, so spends never write the index. Hold items carry
 * them too, with the hold's expiry, so that the expiry job finds lapsed holds the same way.
 */
export const STATE_PREFIX = 'STATE#';
export const ACCOUNT_SK = `${STATE_PREFIX}ACCOUNT`;
export const LOT_PREFIX = `${STATE_PREFIX}LOT#`;
export const SUBSCRIPTION_PREFIX = `${STATE_PREFIX}SUB#`;
export const DUE_PREFIX = `${STATE_PREFIX}DUE#`;
export const HOLD_PREFIX = `${STATE_PREFIX}HOLD#`;
export const LEDGER_PREFIX = 'LEDGER#';
export const FACT_PREFIX = 'FACT#';
export const CODE_SK = 'CODE';
export const PURCHASE_PREFIX = 'PURCHASE#';
export const PAYMENT_SK = 'PAYMENT';
/** 0.1.0 kept a customer's whole state in one item under this sort key (lib/store/legacy.ts). */
export const LEGACY_ACCOUNT_SK = 'ACCOUNT';

/** The index the expiry job queries (infra/table.json defines it under this name). */
export const LOTS_BY_EXPIRY_INDEX = 'lotsByExpiry';
/** Index partitions: the job sweeps them in parallel, and no partition takes every write. */
export const LOT_SHARDS = 16;

export function customerPk(customerId: string): string {
  return `CUST#${customerId}`;
}

export function customerIdOfPk(pk: string): string {
  return pk.slice('CUST#'.length);
}

export function accountKey(customerId: string) {
  return { pk: customerPk(customerId), sk: ACCOUNT_SK };
}

export function legacyAccountKey(customerId: string) {
  return { pk: customerPk(customerId), sk: LEGACY_ACCOUNT_SK };
}

/** Lots sort by expiry inside the state, the first key of the burn order (C5). */
export function lotKey(customerId: string, lot: { id: string; expiresAtMs: number }) {
  return { pk: customerPk(customerId), sk: `${LOT_PREFIX}${toIso(lot.expiresAtMs)}#${lot.id}` };
}

/** An upcoming lot's due marker (lib/store/items.ts), beside the lot in the state. */
export function dueMarkerKey(customerId: string, lot: { id: string; grantedAtMs: number }) {
  return { pk: customerPk(customerId), sk: `${DUE_PREFIX}${toIso(lot.grantedAtMs)}#${lot.id}` };
}

export function holdKey(customerId: string, holdId: string) {
  return { pk: customerPk(customerId), sk: `${HOLD_PREFIX}${holdId}` };
}

export function subscriptionKey(customerId: string, subscriptionId: string) {
  return { pk: customerPk(customerId), sk: `${SUBSCRIPTION_PREFIX}${subscriptionId}` };
}

/**
 * Entries sort by the time they were recorded (see nextRecordedAtMs), then by their place in
 * the change that wrote them; the id keeps the key unique.
 */
export function ledgerKey(
  customerId: string,
  recordedAtMs: number,
  index: number,
  entryId: string,
) {
  const place = String(index).padStart(3, '0');
  return {
    pk: customerPk(customerId),
    sk: `${LEDGER_PREFIX}${toIso(recordedAtMs)}#${place}#${entryId}`,
  };
}

export function factKey(customerId: string, key: string) {
  return { pk: customerPk(customerId), sk: `${FACT_PREFIX}${key}` };
}

/** Outside the STATE# range: only grants and reversals read a purchase's record. */
export function purchaseKey(customerId: string, purchaseId: string) {
  return { pk: customerPk(customerId), sk: `${PURCHASE_PREFIX}${purchaseId}` };
}

/** C24: a pack bought without an invoice is found from the payment intent a refund names. */
export function paymentKey(paymentIntentId: string) {
  return { pk: `PAYMENT#${paymentIntentId}`, sk: PAYMENT_SK };
}

export function codeKey(code: string) {
  return { pk: `CODE#${code}`, sk: CODE_SK };
}

export const SCHEMA_KEY = { pk: 'TABLE', sk: 'SCHEMA' } as const;

/** A stable shard for a customer (FNV-1a), so all of its lots share one index partition. */
export function lotShard(customerId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < customerId.length; i++) {
    hash ^= customerId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `LOTS#${hash % LOT_SHARDS}`;
}

export function allLotShards(): string[] {
  return Array.from({ length: LOT_SHARDS }, (_, i) => `LOTS#${i}`);
}

let lastRecordedAtMs = 0;

/**
 * The ledger orders entries by when they were recorded, on the real clock (never a test's or
 * an as-of time), made strictly increasing within this process so that one process's entries
 * keep their order even within a millisecond. Entries of different processes interleave by
 * their clocks; entries of one transaction share a time and keep their order.
 */
export function nextRecordedAtMs(): number {
  lastRecordedAtMs = Math.max(Date.now(), lastRecordedAtMs + 1);
  return lastRecordedAtMs;
}
