import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Hold, LotPart, LotReturn, RestoreCount } from '../credits/hold-change';
import { holdEndKey, LAPSE_FACT } from '../credits/holds';
import type { CustomerState, StateChange } from '../credits/state';
import { toIso } from '../credits/time';
import { type Budget, callStore } from './call';
import type { StoreDeps } from './client';
import { type LotItem, lotFromItem, lotToItem } from './items';
import { factKey, HOLD_PREFIX, holdKey, lotKey, lotShard } from './keys';
import type { TransactItem } from './transact';

/**
 * Holds (C25) and the records that let credits come back (C26), as stored.
 *
 * A hold is an item of the customer's STATE# range, so the one Query that reads a customer's
 * state reads its holds too. It carries the `lotsByExpiry` index keys with the hold's expiry,
 * so the expiry job's index sweep finds lapsed holds without a scan. Hold items never change:
 * they are put once and deleted once, by whichever of settle, release or lapse comes first.
 *
 * What a consumption took is kept on its command's fact (`record`), beside the count of what
 * restores have given back (`restored`), since a restore names the consumption by its key.
 */

/** A lot as a part remembers it: the lot item's attributes without its keys. */
type StoredLot = Omit<LotItem, 'pk' | 'sk' | 'customerId' | 'lotShard'>;
type StoredPart = { lot: StoredLot; amount: number };

export type HoldItem = {
  pk: string;
  sk: string;
  customerId: string;
  holdId: string;
  amount: number;
  heldAt: string;
  /** The hold's expiry; with lotShard, the `lotsByExpiry` index's keys. */
  expiresAt: string;
  lotShard: string;
  parts: StoredPart[];
};

function partsToItem(customerId: string, parts: readonly LotPart[]): StoredPart[] {
  return parts.map((part) => {
    const {
      pk: _pk,
      sk: _sk,
      customerId: _id,
      lotShard: _shard,
      ...lot
    } = lotToItem(customerId, part.lot);
    return { lot, amount: part.amount };
  });
}

function partsFromItem(parts: readonly StoredPart[]): LotPart[] {
  return parts.map((part) => ({ lot: lotFromItem(part.lot as LotItem), amount: part.amount }));
}

export function holdToItem(customerId: string, hold: Hold): HoldItem {
  return {
    ...holdKey(customerId, hold.id),
    customerId,
    holdId: hold.id,
    amount: hold.amount,
    heldAt: toIso(hold.heldAtMs),
    expiresAt: toIso(hold.expiresAtMs),
    lotShard: lotShard(customerId),
    parts: partsToItem(customerId, hold.parts),
  };
}

export function holdFromItem(item: HoldItem): Hold {
  return {
    id: item.holdId,
    amount: item.amount,
    parts: partsFromItem(item.parts),
    heldAtMs: Date.parse(item.heldAt),
    expiresAtMs: Date.parse(item.expiresAt),
  };
}

/** The state with the hold items of the same Query (lib/store/state.ts). */
export function withHolds(
  state: CustomerState,
  items: readonly Record<string, unknown>[],
): CustomerState {
  const holds = items
    .filter((item) => (item.sk as string).startsWith(HOLD_PREFIX))
    .map((item) => holdFromItem(item as HoldItem));
  return holds.length === 0 ? state : { ...state, holds };
}

/** The `record` a consumption's fact keeps: what it took, lot by lot. */
export function consumptionRecord(customerId: string, parts: readonly LotPart[]) {
  return { parts: partsToItem(customerId, parts) };
}

/** A consumption's fact as a restore reads it. */
export type StoredConsumption = {
  readonly outcome: unknown;
  /** Absent on consumptions written before restores existed: they cannot be given back. */
  readonly parts?: readonly LotPart[];
  readonly restored: number;
};

export async function readConsumption(
  deps: StoreDeps,
  customerId: string,
  key: string,
  budget: Budget,
): Promise<StoredConsumption | undefined> {
  const response = await callStore('GetItem', budget, (options) =>
    deps.db.send(
      new GetCommand({
        TableName: deps.tableName,
        Key: factKey(customerId, key),
        ConsistentRead: true,
      }),
      options,
    ),
  );
  const item = response.Item as
    | { outcome: unknown; record?: { parts?: StoredPart[] }; restored?: number }
    | undefined;
  if (!item) return undefined;
  const parts = item.record?.parts;
  return {
    outcome: item.outcome,
    ...(parts && { parts: partsFromItem(parts) }),
    restored: item.restored ?? 0,
  };
}

/** The transaction items of a change's hold parts (lib/store/transact.ts adds them). */
export function holdItems(deps: StoreDeps, change: StateChange): TransactItem[] {
  const holds = change.holds;
  if (!holds) return [];
  const customerId = change.customerId;
  return [
    ...holds.returned.map((back) => returnItem(deps, customerId, back)),
    ...holds.kept.map((back) => keptItem(deps, customerId, back)),
    ...holds.placed.map(
      (hold): TransactItem => ({
        Put: {
          TableName: deps.tableName,
          Item: holdToItem(customerId, hold),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      }),
    ),
    ...holds.ended.flatMap(({ hold, recordsLapse }) => [
      // Hold items never change, so "still there" is all a hold's end needs: it ends once.
      {
        Delete: {
          TableName: deps.tableName,
          Key: holdKey(customerId, hold.id),
          ConditionExpression: 'attribute_exists(pk)',
        },
      },
      ...(recordsLapse ? [lapseFactItem(deps, customerId, hold.id)] : []),
    ]),
    ...holds.restores.map((count) => restoreCountItem(deps, customerId, count)),
  ];
}

/**
 * Credits back into a lot that is still there. Other spends and returns may have moved it since
 * the read; it must only still exist, not be forfeited (C7), and not end above what it granted
 * (C14). Such a return needs no lotsVersion bump: a cached plan that drains this lot checks its
 * exact credit, and one that takes part of it only needs enough (lib/store/lot-cache.ts).
 */
function returnItem(deps: StoreDeps, customerId: string, back: LotReturn): TransactItem {
  return {
    Update: {
      TableName: deps.tableName,
      Key: lotKey(customerId, back.lot),
      UpdateExpression: 'ADD remaining :back',
      ConditionExpression:
        'attribute_exists(pk) AND attribute_not_exists(forfeit) AND remaining <= :cap',
      ExpressionAttributeValues: { ':back': back.amount, ':cap': back.lot.granted - back.amount },
    },
  };
}

/**
 * C7 C8 C26: credits given back to a lot an end took join its forfeit record, so that undoing
 * the forfeit gives them back too. The record must still be that end's (an unforfeit since
 * gave the lot its credit back: the give-back is decided again, and then comes back to the
 * lot), and not come to more than the lot granted (C14). The unforfeit checks the record's
 * credits as it read them (transact.ts), so one of the two always sees the other.
 */
function keptItem(deps: StoreDeps, customerId: string, back: LotReturn): TransactItem {
  return {
    Update: {
      TableName: deps.tableName,
      Key: lotKey(customerId, back.lot),
      UpdateExpression: 'SET forfeit.#credits = forfeit.#credits + :back',
      ConditionExpression: 'forfeit.#by = :by AND forfeit.#credits <= :cap',
      ExpressionAttributeNames: { '#by': 'by', '#credits': 'credits' },
      ExpressionAttributeValues: {
        ':back': back.amount,
        ':by': back.lot.forfeit?.by,
        ':cap': back.lot.granted - back.amount,
      },
    },
  };
}

function lapseFactItem(deps: StoreDeps, customerId: string, holdId: string): TransactItem {
  return {
    Put: {
      TableName: deps.tableName,
      Item: {
        ...factKey(customerId, holdEndKey(holdId)),
        fingerprint: LAPSE_FACT.fingerprint,
        outcome: LAPSE_FACT.outcome,
        recordedAt: toIso(Date.now()),
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

/** C26: the consumption's restored count moves only from what the restore read. */
function restoreCountItem(deps: StoreDeps, customerId: string, count: RestoreCount): TransactItem {
  return {
    Update: {
      TableName: deps.tableName,
      Key: factKey(customerId, count.consumptionKey),
      UpdateExpression: 'SET restored = :after',
      ConditionExpression:
        count.before === 0
          ? 'attribute_exists(pk) AND attribute_not_exists(restored)'
          : 'restored = :before',
      ExpressionAttributeValues: {
        ':after': count.after,
        ...(count.before !== 0 && { ':before': count.before }),
      },
    },
  };
}
