import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { LotTake } from '../credits/lots';
import type { CustomerState, StateChange, SubscriptionFacts } from '../credits/state';
import { StoreError } from '../errors';
import { type Budget, callStore } from './call';
import type { StoreDeps } from './client';
import { holdItems } from './hold-items';
import {
  dueMarkerToItem,
  factsToAttributes,
  ledgerEntryToItem,
  lotToItem,
  subscriptionToItem,
} from './items';
import { accountKey, dueMarkerKey, lotKey, nextRecordedAtMs } from './keys';
import { purchaseItems } from './purchases';

export type TransactItem = NonNullable<TransactWriteCommand['input']['TransactItems']>[number];

/** DynamoDB's limit on the items of one transaction. */
export const MAX_TRANSACTION_ITEMS = 100;

/**
 * A cached spend's guard: the state it planned on. A lot created or deleted since moves the
 * account's lotsVersion, a subscription's end its version, and the transaction fails instead
 * of burning out of order (C5) or burning what an end took (C7).
 */
export type LotsGuard = { readonly lotsVersion: number; readonly version: number };

/**
 * The transaction items that write `change` to the customer's items, each conditioned on the
 * state the decision read (`before`), so that a concurrent writer makes it fail instead of
 * being overwritten. Spends condition only on the lots they take; changes of the account item
 * condition on its counters, so grants, ends and the spends that drain a lot serialise.
 */
export function changeItems(
  deps: StoreDeps,
  before: CustomerState,
  change: StateChange,
  guard?: LotsGuard,
): TransactItem[] {
  const customerId = change.customerId;
  const table = deps.tableName;
  const recordedAtMs = nextRecordedAtMs();
  const items: TransactItem[] = [];
  if (!change.quiet) items.push(...accountItems(deps, before, change, guard));
  for (const lot of change.created) {
    items.push({
      Put: {
        TableName: table,
        Item: lotToItem(customerId, lot),
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    });
    if (lot.upcoming)
      items.push({ Put: { TableName: table, Item: dueMarkerToItem(customerId, lot) } });
  }
  const releasedIds = new Set(change.released.map((lot) => lot.id));
  for (const take of change.taken) {
    items.push(
      releasedIds.has(take.lot.id)
        ? releaseAndTakeItem(table, customerId, take)
        : takeItem(table, customerId, take),
    );
  }
  for (const { lot, by, credits } of change.forfeited) {
    const condition = remainingIs(lot.remaining);
    items.push({
      Update: {
        TableName: table,
        Key: lotKey(customerId, lot),
        UpdateExpression: 'SET remaining = :zero, forfeit = :forfeit',
        ConditionExpression: condition.ConditionExpression,
        ExpressionAttributeValues: {
          ...condition.ExpressionAttributeValues,
          ':zero': 0,
          ':forfeit': { by, credits: credits ?? lot.remaining },
        },
      },
    });
  }
  for (const lot of change.unforfeited) {
    items.push({
      Update: {
        TableName: table,
        Key: lotKey(customerId, lot),
        UpdateExpression: 'SET remaining = :credits REMOVE forfeit',
        // Still the record of that end's forfeit as read: nobody gave it back meanwhile, and no
        // credits given back to the lot joined it since (hold-items.ts), which would be lost.
        ConditionExpression: 'forfeit.#by = :by AND forfeit.#credits = :credits',
        ExpressionAttributeNames: { '#by': 'by', '#credits': 'credits' },
        ExpressionAttributeValues: {
          ':credits': lot.forfeit?.credits ?? 0,
          ':by': lot.forfeit?.by,
        },
      },
    });
  }
  const takenIds = new Set(change.taken.map((take) => take.lot.id));
  for (const lot of change.released) {
    const condition = remainingIs(lot.remaining);
    items.push({ Delete: { TableName: table, Key: dueMarkerKey(customerId, lot) } });
    // A lot released and taken from at once is one write (releaseAndTakeItem).
    if (takenIds.has(lot.id)) continue;
    items.push({
      Update: {
        TableName: table,
        Key: lotKey(customerId, lot),
        UpdateExpression: 'REMOVE upcoming',
        ConditionExpression: `attribute_exists(upcoming) AND ${condition.ConditionExpression}`,
        ExpressionAttributeValues: condition.ExpressionAttributeValues,
      },
    });
  }
  for (const { lot, amount } of change.cancelled) {
    const condition = remainingIs(lot.remaining);
    items.push(
      amount >= lot.remaining
        ? { Delete: { TableName: table, Key: lotKey(customerId, lot), ...condition } }
        : {
            Update: {
              TableName: table,
              Key: lotKey(customerId, lot),
              UpdateExpression: 'SET granted = granted - :cancel, remaining = remaining - :cancel',
              ConditionExpression: condition.ConditionExpression,
              ExpressionAttributeValues: {
                ...condition.ExpressionAttributeValues,
                ':cancel': amount,
              },
            },
          },
    );
    if (lot.upcoming && amount >= lot.remaining) {
      items.push({ Delete: { TableName: table, Key: dueMarkerKey(customerId, lot) } });
    }
  }
  for (const lot of change.reclaimed) {
    items.push({
      Delete: { TableName: table, Key: lotKey(customerId, lot), ...remainingIs(lot.remaining) },
    });
    // An upcoming lot that expired before anything recorded it takes its marker along.
    if (lot.upcoming)
      items.push({ Delete: { TableName: table, Key: dueMarkerKey(customerId, lot) } });
  }
  // C25/C26: holds placed and ended, credits given back (lib/store/hold-items.ts).
  items.push(...holdItems(deps, change));
  for (const record of change.purchases ?? []) items.push(...purchaseItems(table, record));
  change.entries.forEach((entry, index) => {
    items.push({
      Put: {
        TableName: table,
        Item: ledgerEntryToItem(customerId, entry, recordedAtMs, index),
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    });
  });
  return items;
}

function takeItem(table: string, customerId: string, take: LotTake): TransactItem {
  const key = lotKey(customerId, take.lot);
  // A drained lot goes: nothing is left to spend, and the lot set moves with it.
  if (take.drains)
    return { Delete: { TableName: table, Key: key, ...remainingIs(take.lot.remaining) } };
  return {
    Update: {
      TableName: table,
      Key: key,
      UpdateExpression: 'SET remaining = remaining - :take',
      // Any other spend may have taken from this lot too; only enough must be left, and more
      // than enough: a take that would empty the lot must drain (delete) it, so that no lot is
      // left at 0 where a cached plan would skip it (lot-cache.ts).
      ConditionExpression: 'remaining > :take',
      ExpressionAttributeValues: { ':take': take.amount },
    },
  };
}

/**
 * A spend that takes from an upcoming lot whose grant time has come (C20) records its release
 * in the same write: the lot, still exactly as read and still upcoming, loses the flag and
 * what the spend takes (or goes, drained).
 */
function releaseAndTakeItem(table: string, customerId: string, take: LotTake): TransactItem {
  const key = lotKey(customerId, take.lot);
  const condition = `attribute_exists(upcoming) AND remaining = :remaining`;
  if (take.drains) {
    return {
      Delete: {
        TableName: table,
        Key: key,
        ConditionExpression: condition,
        ExpressionAttributeValues: { ':remaining': take.lot.remaining },
      },
    };
  }
  return {
    Update: {
      TableName: table,
      Key: key,
      UpdateExpression: 'SET remaining = remaining - :take REMOVE upcoming',
      ConditionExpression: condition,
      ExpressionAttributeValues: { ':take': take.amount, ':remaining': take.lot.remaining },
    },
  };
}

function remainingIs(remaining: number) {
  return {
    ConditionExpression: 'remaining = :remaining',
    ExpressionAttributeValues: { ':remaining': remaining },
  };
}

/** The account update (and subscription items) a change needs, or the guard's check. */
function accountItems(
  deps: StoreDeps,
  before: CustomerState,
  change: StateChange,
  guard: LotsGuard | undefined,
): TransactItem[] {
  const counted = (lots: readonly { quiet?: boolean }[]) => lots.filter((lot) => !lot.quiet).length;
  const deleted = deletedLots(change);
  const countDelta = counted(change.created) - counted(deleted);
  const lotSetMoves = change.created.length > 0 || deleted.length > 0;
  const key = accountKey(change.customerId);
  if (!change.facts && !lotSetMoves) {
    if (!guard) return [];
    return [
      {
        // Facts too: an end recorded since makes lots forfeited that the cache thinks alive.
        ConditionCheck: { TableName: deps.tableName, Key: key, ...countersAre(before) },
      },
    ];
  }
  const sets = ['customerId = :customerId'];
  const values: Record<string, unknown> = { ':customerId': change.customerId };
  if (change.facts) {
    sets.push('#version = :nextVersion');
    values[':nextVersion'] = before.version + 1;
    for (const [name, value] of Object.entries(factsToAttributes(change.facts))) {
      sets.push(`${name} = :${name}`);
      values[`:${name}`] = value;
    }
  }
  const adds: string[] = [];
  if (lotSetMoves) {
    adds.push('#lotsVersion :one');
    values[':one'] = 1;
  }
  if (countDelta !== 0) {
    adds.push('#lotCount :countDelta');
    values[':countDelta'] = countDelta;
  }
  const condition = countersAre(before);
  const update: TransactItem = {
    Update: {
      TableName: deps.tableName,
      Key: key,
      UpdateExpression: `SET ${sets.join(', ')}${adds.length > 0 ? ` ADD ${adds.join(', ')}` : ''}`,
      ConditionExpression: condition.ConditionExpression,
      ExpressionAttributeNames: {
        ...condition.ExpressionAttributeNames,
        ...(countDelta !== 0 && { '#lotCount': 'lotCount' }),
      },
      ExpressionAttributeValues: { ...values, ...condition.ExpressionAttributeValues },
    },
  };
  return [update, ...subscriptionItems(deps, before, change)];
}

/**
 * The account's counters as the decision read them: `version` (the facts) and `lotsVersion`
 * (the lot set). 0 means never written.
 */
function countersAre(before: CustomerState) {
  const values: Record<string, number> = {};
  const version =
    before.version === 0 ? 'attribute_not_exists(#version)' : '#version = :readVersion';
  if (before.version !== 0) values[':readVersion'] = before.version;
  const lotsVersion =
    before.lotsVersion === 0
      ? 'attribute_not_exists(#lotsVersion)'
      : '#lotsVersion = :readLotsVersion';
  if (before.lotsVersion !== 0) values[':readLotsVersion'] = before.lotsVersion;
  return {
    ConditionExpression: `${version} AND ${lotsVersion}`,
    ExpressionAttributeNames: { '#version': 'version', '#lotsVersion': 'lotsVersion' },
    ...(Object.keys(values).length > 0 && { ExpressionAttributeValues: values }),
  };
}

function subscriptionItems(
  deps: StoreDeps,
  before: CustomerState,
  change: StateChange,
): TransactItem[] {
  if (!change.facts) return [];
  // A subscription's item is written when anything it stores differs from what was read: its
  // encoding (built field by field in one order) is the comparison, so a new fact cannot be
  // left out of it.
  const stored = (id: string, facts: SubscriptionFacts | undefined) =>
    facts && JSON.stringify(subscriptionToItem(change.customerId, id, facts));
  return Object.entries(change.facts.subscriptions)
    .filter(([id, facts]) => stored(id, before.facts.subscriptions[id]) !== stored(id, facts))
    .map(([id, facts]) => ({
      Put: { TableName: deps.tableName, Item: subscriptionToItem(change.customerId, id, facts) },
    }));
}

/**
 * Why one item of a cancelled transaction failed: its code (`None` when it did not), and for a
 * failed condition on an item written with `ReturnValuesOnConditionCheckFailure: ALL_OLD`, the
 * item as DynamoDB found it (absent: there was none).
 */
export type CancellationReason = {
  readonly code: string;
  readonly item?: Record<string, unknown>;
};

/** What a transaction came to: written, lost to a concurrent writer, or already settled. */
export type TransactOutcome =
  | { readonly kind: 'written' }
  | { readonly kind: 'lost'; readonly reasons: readonly CancellationReason[] }
  | { readonly kind: 'settled'; readonly item: Record<string, unknown> };

/**
 * Writes the items in one transaction. A cancellation whose reasons are all conditions or
 * conflicts is a lost race (re-read and decide again); when the item at `settledIndex` (the
 * command's fact) is the one that exists, the command was applied before, and the first
 * outcome, returned by DynamoDB with the cancellation, settles it without another read.
 */
export async function transact(
  deps: StoreDeps,
  items: readonly TransactItem[],
  budget: Budget,
  settledIndex = -1,
): Promise<TransactOutcome> {
  if (items.length === 0) return { kind: 'written' };
  if (items.length > MAX_TRANSACTION_ITEMS) {
    throw new Error(`a change of ${items.length} items does not fit one transaction`);
  }
  try {
    await callStore('TransactWriteItems', budget, (options) =>
      deps.db.send(new TransactWriteCommand({ TransactItems: [...items] }), options),
    );
    return { kind: 'written' };
  } catch (error) {
    const cancelled = error instanceof StoreError ? error.cause : undefined;
    if (!(cancelled instanceof TransactionCanceledException)) throw error;
    const reasons = cancelled.CancellationReasons ?? [];
    const existing = reasons[settledIndex];
    if (existing?.Code === 'ConditionalCheckFailed' && existing.Item) {
      return { kind: 'settled', item: unmarshall(existing.Item) };
    }
    const lost = reasons.map((reason) => ({
      code: reason.Code ?? 'None',
      ...(reason.Item && { item: unmarshall(reason.Item) }),
    }));
    if (
      lost.every(({ code }) =>
        ['None', 'ConditionalCheckFailed', 'TransactionConflict'].includes(code),
      )
    ) {
      return { kind: 'lost', reasons: lost };
    }
    throw error;
  }
}

/** The lot items a change deletes: expired, drained, and cancelled with nothing left. */
export function deletedLots(change: StateChange) {
  return [
    ...change.reclaimed,
    ...change.taken.filter((take) => take.drains).map((take) => take.lot),
    ...change.cancelled.filter((each) => each.amount >= each.lot.remaining).map((each) => each.lot),
  ];
}
