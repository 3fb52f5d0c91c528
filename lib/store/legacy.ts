import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { Lot, LotSource } from '../credits/lots';
import type { SubscriptionFacts } from '../credits/state';
import { ContentionError } from '../errors';
import { type Budget, callStore } from './call';
import type { StoreDeps } from './client';
import { type AccountItem, factsToAttributes, lotToItem, subscriptionToItem } from './items';
import { accountKey, customerPk, legacyAccountKey, STATE_PREFIX } from './keys';

/**
 * Items written by 0.1.0, read and converted here only. 0.1.0 kept each customer's whole
 * state in one `ACCOUNT` item (lots as a map, subscription ends and starts as maps) under a
 * version, and numbered the ledger (`LEDGER#<12-digit seq>`). The ledger entries and the
 * command facts (`FACT#...`) need no conversion: their keys sort before every entry written
 * since, and their attributes are the ones read today.
 */
export type LegacyAccountItem = {
  pk: string;
  sk: string;
  customerId: string;
  version: number;
  lots?: Record<
    string,
    {
      source: LotSource;
      granted: number;
      remaining: number;
      grantedAt: string;
      expiresAt: string;
      ref: string;
    }
  >;
  endedSubscriptions?: Record<string, string>;
  activeSubscriptions?: Record<string, string>;
  firstPaidInvoice?: { id: string; at: string };
  referralCode?: string;
  redemption?: { code: string; referrerId: string; invoiceId: string };
};

export async function readLegacyAccount(
  deps: StoreDeps,
  customerId: string,
  budget: Budget,
): Promise<LegacyAccountItem | undefined> {
  const response = await callStore('GetItem', budget, (options) =>
    deps.db.send(
      new GetCommand({
        TableName: deps.tableName,
        Key: legacyAccountKey(customerId),
        ConsistentRead: true,
      }),
      options,
    ),
  );
  return response.Item as LegacyAccountItem | undefined;
}

/** The lots of a 0.1.0 account, as the current code keeps them. */
export function legacyLots(item: LegacyAccountItem): Lot[] {
  return Object.entries(item.lots ?? {}).map(([id, lot]) => ({
    id,
    source: lot.source,
    granted: lot.granted,
    remaining: lot.remaining,
    grantedAtMs: Date.parse(lot.grantedAt),
    expiresAtMs: Date.parse(lot.expiresAt),
    ref: lot.ref,
  }));
}

/** Its subscriptions: 0.1.0 kept when each started granting and when each ended. */
export function legacySubscriptions(item: LegacyAccountItem): Record<string, SubscriptionFacts> {
  const subscriptions: Record<string, SubscriptionFacts> = {};
  for (const [id, at] of Object.entries(item.activeSubscriptions ?? {})) {
    subscriptions[id] = { ...subscriptions[id], activeSinceMs: Date.parse(at) };
  }
  for (const [id, at] of Object.entries(item.endedSubscriptions ?? {})) {
    subscriptions[id] = { ...subscriptions[id], endedAtMs: Date.parse(at) };
  }
  return subscriptions;
}

/** Lot items written per transaction before the last one (100 items at most). */
const LOTS_PER_CHUNK = 90;
const MAX_ATTEMPTS = 5;

/**
 * Converts one 0.1.0 customer into the current items. Lots beyond one transaction's worth are
 * written first (plain Puts: a rerun writes the same items again); the last transaction writes
 * the account and the subscriptions and deletes the 0.1.0 item on condition that its version
 * is still the one converted, so a customer changed meanwhile by a 0.1.0 function still
 * running is converted again, and stale lot items of the earlier try are deleted then.
 * Returns false when there was nothing to convert (already done, e.g. by a concurrent call).
 */
export async function migrateLegacyCustomer(
  deps: StoreDeps,
  legacy: LegacyAccountItem,
  budget: Budget,
): Promise<boolean> {
  let item: LegacyAccountItem | undefined = legacy;
  for (let attempt = 1; item && attempt <= MAX_ATTEMPTS; attempt++) {
    if (await tryMigration(deps, item, budget)) return true;
    item = await readLegacyAccount(deps, legacy.customerId, budget);
  }
  if (!item) return false;
  throw new ContentionError(`could not migrate ${legacy.customerId}: it kept changing`);
}

async function tryMigration(
  deps: StoreDeps,
  item: LegacyAccountItem,
  budget: Budget,
): Promise<boolean> {
  const customerId = item.customerId;
  const lots = legacyLots(item).map((lot) => lotToItem(customerId, lot));
  const wanted = new Set(lots.map((lot) => lot.sk));
  const stale = (await existingStateKeys(deps, customerId, budget)).filter((sk) => !wanted.has(sk));
  const puts = lots.map((lot) => ({ Put: { TableName: deps.tableName, Item: lot } }));
  const deletes = stale.map((sk) => ({
    Delete: { TableName: deps.tableName, Key: { pk: customerPk(customerId), sk } },
  }));
  const early = [...deletes, ...puts];
  const last = early.splice(Math.max(0, early.length - LOTS_PER_CHUNK));
  for (let start = 0; start < early.length; start += LOTS_PER_CHUNK) {
    await transact(deps, early.slice(start, start + LOTS_PER_CHUNK), budget);
  }
  return transact(deps, [...last, ...finalItems(deps, item, lots.length)], budget);
}

function finalItems(deps: StoreDeps, item: LegacyAccountItem, lotCount: number) {
  const customerId = item.customerId;
  const account: AccountItem = {
    ...accountKey(customerId),
    customerId,
    version: 1,
    lotsVersion: 1,
    lotCount,
    ...factsToAttributes({
      ...(item.firstPaidInvoice && {
        firstPurchase: {
          id: item.firstPaidInvoice.id,
          atMs: Date.parse(item.firstPaidInvoice.at),
        },
      }),
      ...(item.referralCode && { referralCode: item.referralCode }),
      ...(item.redemption && { redemption: item.redemption }),
      subscriptions: {},
    }),
  };
  const subscriptions = Object.entries(legacySubscriptions(item)).map(([id, facts]) => ({
    Put: { TableName: deps.tableName, Item: subscriptionToItem(customerId, id, facts) },
  }));
  return [
    ...subscriptions,
    {
      Put: {
        TableName: deps.tableName,
        Item: account,
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
    {
      Delete: {
        TableName: deps.tableName,
        Key: legacyAccountKey(customerId),
        ConditionExpression: '#version = :version',
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: { ':version': item.version },
      },
    },
  ];
}

async function existingStateKeys(
  deps: StoreDeps,
  customerId: string,
  budget: Budget,
): Promise<string[]> {
  const keys: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await callStore('Query', budget, (options) =>
      deps.db.send(
        new QueryCommand({
          TableName: deps.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :state)',
          ExpressionAttributeValues: { ':pk': customerPk(customerId), ':state': STATE_PREFIX },
          ProjectionExpression: 'sk',
          ConsistentRead: true,
          ...(startKey && { ExclusiveStartKey: startKey }),
        }),
        options,
      ),
    );
    keys.push(...(page.Items ?? []).map((each) => each.sk as string));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return keys;
}

async function transact(
  deps: StoreDeps,
  items: NonNullable<TransactWriteCommand['input']['TransactItems']>,
  budget: Budget,
): Promise<boolean> {
  if (items.length === 0) return true;
  try {
    await callStore('TransactWriteItems', budget, (options) =>
      deps.db.send(new TransactWriteCommand({ TransactItems: items }), options),
    );
    return true;
  } catch (error) {
    if ((error as { cause?: unknown }).cause instanceof TransactionCanceledException) return false;
    throw error;
  }
}
