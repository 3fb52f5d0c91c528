/**
 * How a command (lib/store/command.ts) comes by the purchase records its decision reads
 * (C22-C24): read after the customers' states, or guessed and checked by the write.
 */

import type { PurchaseRecord } from '../credits/purchase';
import type { CustomerState, StateChange } from '../credits/state';
import type { Budget } from './call';
import type { StoreDeps } from './client';
import { purchaseKey } from './keys';
import { readPurchase, recordOf } from './purchases';
import type { CancellationReason, TransactItem } from './transact';

/** A purchase's record a decision reads. */
export type PurchaseRead = {
  readonly customerId: string;
  readonly purchaseId: string;
  /**
   * The record the caller expects, to decide on without reading it: a grant expects none, since
   * only a reversal delivered before it (C16) writes one first. The record's write is
   * conditioned on its version, so a wrong guess writes nothing: the cancelled transaction
   * returns the record as it is (ALL_OLD), and the command decides again on that. A dry run,
   * which writes nothing that could check the guess, reads the record. Absent: the record is
   * read (strongly consistent) before every decision.
   */
  readonly expected?: PurchaseRecord;
};

/**
 * The purchase records a command decides on without reading them (PurchaseRead.expected), by
 * customer and purchase: the caller's guess at first, then each record a cancelled write
 * returned.
 */
export type Guesses = Map<string, PurchaseRecord>;

/** What a cancelled write showed of a guessed record; no `record`: read it next time. */
export type Learned = {
  readonly customerId: string;
  readonly purchaseId: string;
  readonly record?: PurchaseRecord;
};

export function guessesOf(reads: readonly PurchaseRead[]): Guesses {
  const guesses: Guesses = new Map();
  for (const { customerId, purchaseId, expected } of reads) {
    if (expected) guesses.set(guessKey(customerId, purchaseId), expected);
  }
  return guesses;
}

export function learn(guesses: Guesses, learned: readonly Learned[]): void {
  for (const { customerId, purchaseId, record } of learned) {
    const key = guessKey(customerId, purchaseId);
    if (record) guesses.set(key, record);
    else guesses.delete(key);
  }
}

function guessKey(customerId: string, purchaseId: string): string {
  return JSON.stringify([customerId, purchaseId]);
}

/** The states with the purchase records the command asked for: guessed, or read after the states. */
export async function withPurchases(
  deps: StoreDeps,
  reads: readonly PurchaseRead[],
  states: Map<string, CustomerState>,
  guesses: Guesses,
  options: { budget: Budget; dryRun?: boolean },
): Promise<Map<string, CustomerState>> {
  for (const read of reads) {
    const { customerId, purchaseId } = read;
    const state = states.get(customerId);
    if (!state)
      throw new Error(`purchase ${purchaseId} of ${customerId}, whose state was not read`);
    const guess = options.dryRun ? undefined : guesses.get(guessKey(customerId, purchaseId));
    const record = guess ?? (await readPurchase(deps, customerId, purchaseId, options.budget));
    const purchases = new Map(state.purchases);
    purchases.set(purchaseId, record);
    states.set(customerId, { ...state, purchases });
  }
  return states;
}

/**
 * The guessed purchase records (PurchaseRead.expected) whose condition failed, as DynamoDB
 * returned them with the cancellation, and whether nothing else failed.
 */
export function wrongGuesses(
  reads: readonly PurchaseRead[],
  items: readonly TransactItem[],
  reasons: readonly CancellationReason[],
): { learned: Learned[]; keepReads: boolean } {
  const learned: Learned[] = [];
  const explained = new Set<number>();
  for (const { customerId, purchaseId, expected } of reads) {
    if (!expected) continue;
    const index = items.findIndex((item) => isOfRecord(item, customerId, purchaseId));
    const reason = reasons[index];
    if (reason?.code !== 'ConditionalCheckFailed') continue;
    // A record's write fails only on a record that exists, which DynamoDB returns (ALL_OLD);
    // without it the guess cannot be corrected, and the record is read instead.
    learned.push({
      customerId,
      purchaseId,
      ...(reason.item && { record: recordOf(customerId, purchaseId, reason.item) }),
    });
    explained.add(index);
  }
  const keepReads =
    learned.length > 0 &&
    reasons.every((reason, index) => reason.code === 'None' || explained.has(index));
  return { learned, keepReads };
}

/** Whether `item` writes or checks the purchase's record. */
function isOfRecord(item: TransactItem, customerId: string, purchaseId: string): boolean {
  const key = purchaseKey(customerId, purchaseId);
  const of = item.Put?.Item ?? item.ConditionCheck?.Key;
  return of?.pk === key.pk && of.sk === key.sk;
}

/**
 * A decision on a purchase's record holds only while the record is as the decision saw it. A
 * write of the record is conditioned on that already (purchaseItems); a write without it (a
 * grant's batch of lots before its last) checks it, returning it when it changed (ALL_OLD): a
 * batch decided on a guess that a reversal came first, or on a record some other delivery has
 * moved on since (C16), writes nothing and is decided again on the record as it is.
 */
export function recordChecks(
  tableName: string,
  reads: readonly PurchaseRead[],
  states: ReadonlyMap<string, CustomerState>,
  items: readonly TransactItem[],
): TransactItem[] {
  const checks: TransactItem[] = [];
  for (const { customerId, purchaseId } of reads) {
    if (items.some((item) => isOfRecord(item, customerId, purchaseId))) continue;
    const version = states.get(customerId)?.purchases?.get(purchaseId)?.version ?? 0;
    checks.push({
      ConditionCheck: {
        TableName: tableName,
        Key: purchaseKey(customerId, purchaseId),
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        ...(version === 0
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : {
              ConditionExpression: '#version = :read',
              ExpressionAttributeNames: { '#version': 'version' },
              ExpressionAttributeValues: { ':read': version },
            }),
      },
    });
  }
  return checks;
}

/** The records a write wrote, as the next decision's guesses (a batch before the last). */
export function writtenRecords(
  reads: readonly PurchaseRead[],
  changes: readonly StateChange[],
): Learned[] {
  return changes.flatMap((change) =>
    (change.purchases ?? [])
      .filter((record) =>
        reads.some(
          (read) => read.customerId === record.customerId && read.purchaseId === record.id,
        ),
      )
      .map((record) => ({ customerId: record.customerId, purchaseId: record.id, record })),
  );
}
