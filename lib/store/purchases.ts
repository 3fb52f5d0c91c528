import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { PurchaseRecord, ReversalFact } from '../credits/purchase';
import { emptyRecord } from '../credits/purchase';
import { toIso } from '../credits/time';
import { type Budget, callStore } from './call';
import type { StoreDeps } from './client';
import { paymentKey, purchaseKey } from './keys';
import type { TransactItem } from './transact';

/**
 * A purchase's record (lib/credits/purchase.ts) as stored: one item beside the customer's state,
 * outside the STATE# range every command reads, so that only grants and reversals pay for it.
 */
type PurchaseItem = {
  pk: string;
  sk: string;
  customerId: string;
  purchaseId: string;
  version: number;
  granted?: Omit<NonNullable<PurchaseRecord['granted']>, 'expiresAtMs' | 'referral'> & {
    expiresAt: string;
    referral?: Omit<
      NonNullable<NonNullable<PurchaseRecord['granted']>['referral']>,
      'referrerExpiresAtMs'
    > & { referrerExpiresAt: string };
  };
  reversals?: Record<string, { amount: number; at: string; undoneAt?: string }>;
  lost: number;
  referrerTaken: number;
  settlingGrant?: Readonly<Record<string, unknown>>;
};

/** The record of a purchase, or an empty one (version 0) when nothing has written it yet. */
export async function readPurchase(
  deps: StoreDeps,
  customerId: string,
  purchaseId: string,
  budget: Budget,
): Promise<PurchaseRecord> {
  const response = await callStore('GetItem', budget, (options) =>
    deps.db.send(
      new GetCommand({
        TableName: deps.tableName,
        Key: purchaseKey(customerId, purchaseId),
        ConsistentRead: true,
      }),
      options,
    ),
  );
  return recordOf(customerId, purchaseId, response.Item);
}

/**
 * The record a stored item holds (a read's, or the one a cancelled transaction returned when
 * the record's condition failed), or an empty one when there was no item.
 */
export function recordOf(
  customerId: string,
  purchaseId: string,
  item: Record<string, unknown> | undefined,
): PurchaseRecord {
  return item ? recordFromItem(item as PurchaseItem) : emptyRecord(customerId, purchaseId);
}

/** The purchase a pack's payment intent paid for (C24), if a grant recorded one. */
export async function purchaseOfPayment(
  deps: StoreDeps,
  paymentIntentId: string,
  budget: Budget,
): Promise<{ customerId: string; purchaseId: string } | undefined> {
  const response = await callStore('GetItem', budget, (options) =>
    deps.db.send(
      // Consistent: the grant that wrote it may have been a moment ago (C16), and a miss
      // would send a refund of a pack bought without an invoice nowhere.
      new GetCommand({
        TableName: deps.tableName,
        Key: paymentKey(paymentIntentId),
        ConsistentRead: true,
      }),
      options,
    ),
  );
  const item = response.Item as { customerId: string; purchaseId: string } | undefined;
  return item && { customerId: item.customerId, purchaseId: item.purchaseId };
}

/**
 * The record's write, conditioned on the version read (`record.version - 1`), so that two
 * commands changing one purchase cannot both succeed; a pack's payment intent is recorded with
 * the record's first grant. A failed condition returns the record as it is (ALL_OLD): a grant
 * that assumed there was none decides again on it (lib/store/command.ts).
 */
export function purchaseItems(table: string, record: PurchaseRecord): TransactItem[] {
  const read = record.version - 1;
  const put: TransactItem = {
    Put: {
      TableName: table,
      Item: recordToItem(record),
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      ...(read === 0
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: '#version = :read',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':read': read },
          }),
    },
  };
  const intent = record.granted?.paymentIntentId;
  if (!intent) return [put];
  const alias = {
    ...paymentKey(intent),
    customerId: record.customerId,
    purchaseId: record.id,
  };
  return [put, { Put: { TableName: table, Item: alias } }];
}

function recordToItem(record: PurchaseRecord): PurchaseItem {
  const granted = record.granted;
  return {
    ...purchaseKey(record.customerId, record.id),
    customerId: record.customerId,
    purchaseId: record.id,
    version: record.version,
    ...(granted && {
      granted: {
        credits: granted.credits,
        amountPaid: granted.amountPaid,
        expiresAt: toIso(granted.expiresAtMs),
        source: granted.source,
        ...(granted.subscriptionId !== undefined && { subscriptionId: granted.subscriptionId }),
        ...(granted.paymentIntentId !== undefined && { paymentIntentId: granted.paymentIntentId }),
        ...(granted.referral && {
          referral: {
            referrerId: granted.referral.referrerId,
            bonus: granted.referral.bonus,
            referrerBonus: granted.referral.referrerBonus,
            referrerLotId: granted.referral.referrerLotId,
            referrerExpiresAt: toIso(granted.referral.referrerExpiresAtMs),
          },
        }),
      },
    }),
    // No empty map: DynamoDB Local's stream renders one as a value without a type, which no
    // reader of the stream can decode (publishEvents would stop at the record).
    ...(Object.keys(record.reversals).length > 0 && {
      reversals: Object.fromEntries(
        Object.entries(record.reversals).map(([key, fact]) => [
          key,
          {
            amount: fact.amount,
            at: toIso(fact.atMs),
            ...(fact.undoneAtMs !== undefined && { undoneAt: toIso(fact.undoneAtMs) }),
          },
        ]),
      ),
    }),
    lost: record.lost,
    referrerTaken: record.referrerTaken,
    ...(record.settlingGrant && { settlingGrant: record.settlingGrant }),
  };
}

function recordFromItem(item: PurchaseItem): PurchaseRecord {
  const granted = item.granted;
  const reversals: Record<string, ReversalFact> = {};
  for (const [key, fact] of Object.entries(item.reversals ?? {})) {
    reversals[key] = {
      amount: fact.amount,
      atMs: Date.parse(fact.at),
      ...(fact.undoneAt !== undefined && { undoneAtMs: Date.parse(fact.undoneAt) }),
    };
  }
  return {
    id: item.purchaseId,
    customerId: item.customerId,
    version: item.version,
    ...(granted && {
      granted: {
        credits: granted.credits,
        amountPaid: granted.amountPaid,
        expiresAtMs: Date.parse(granted.expiresAt),
        source: granted.source,
        ...(granted.subscriptionId !== undefined && { subscriptionId: granted.subscriptionId }),
        ...(granted.paymentIntentId !== undefined && { paymentIntentId: granted.paymentIntentId }),
        ...(granted.referral && {
          referral: {
            referrerId: granted.referral.referrerId,
            bonus: granted.referral.bonus,
            referrerBonus: granted.referral.referrerBonus,
            referrerLotId: granted.referral.referrerLotId,
            referrerExpiresAtMs: Date.parse(granted.referral.referrerExpiresAt),
          },
        }),
      },
    }),
    reversals,
    lost: item.lost,
    referrerTaken: item.referrerTaken,
    ...(item.settlingGrant && { settlingGrant: item.settlingGrant }),
  };
}
