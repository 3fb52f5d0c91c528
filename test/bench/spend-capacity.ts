import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { grantLots } from '../../lib/credits/changes';
import { LotSource, newLot } from '../../lib/credits/lots';
import { type CustomerState, EntryType, emptyState, stateAfter } from '../../lib/credits/state';
import type { StoreDeps } from '../../lib/store/client';
import { ledgerEntryToItem, lotToItem } from '../../lib/store/items';
import { accountKey, customerPk } from '../../lib/store/keys';
import { type Capacity, capacityOf } from './capacity';
import { creditsContainer } from './containers';
import { startRecordingProxy } from './dynamo-stand-in';
import { writeAll } from './seed';
import { snapshotPartition } from './snapshot';

/**
 * Write capacity of one spend as a customer's history grows (issue 10: `wcuPerSpend`): a
 * customer with 1 live lot and one with 2,000, each spending 1 credit through the `credits`
 * handler with the production deps, through a recording proxy. The first spend of a container
 * reads the state (a Query of every live lot) and writes one transaction; the second is
 * planned on the container's lot cache and writes the transaction alone, with a check of the
 * account's counters. Capacity is computed from the recorded calls and the customer's items
 * just before and after each spend (capacity.ts). The customers are seeded as the items that
 * as many ops adjustments would have written (the store's own rules and codec), granted over
 * the last 80 days, 10 credits each, so that the spend takes part of the oldest lot.
 */
export type SpendCapacity = {
  readonly lots: number;
  readonly cold: Capacity & { readonly calls: number };
  readonly cached: Capacity & { readonly calls: number };
};

const DAY_MS = 86_400_000;
const CREDITS_PER_LOT = 10;

export async function measureSpendCapacity(options: {
  readonly endpoint: string;
  readonly tableName: string;
  readonly store: StoreDeps;
  readonly raw: DynamoDBClient;
  readonly lotCounts: readonly number[];
}): Promise<SpendCapacity[]> {
  const rows: SpendCapacity[] = [];
  for (const lots of options.lotCounts) {
    const customerId = `cus_lots_${lots}_${Date.now()}`;
    await writeAll(options.store, customerItems(customerId, lots));
    rows.push({ lots, ...(await twoSpends(options, customerId)) });
  }
  return rows;
}

/** The items of a customer granted `lots` adjustments, one lot each, as the store writes them. */
function customerItems(customerId: string, lots: number): Record<string, unknown>[] {
  const nowMs = Date.now();
  let state: CustomerState = emptyState(customerId);
  const items: Record<string, unknown>[] = [];
  for (let i = 0; i < lots; i++) {
    const grantedAtMs = nowMs - DAY_MS - Math.floor((i * 79 * DAY_MS) / lots);
    const id = `adjust#seed${i}`;
    const lot = newLot({
      id,
      source: LotSource.adjustment,
      credits: CREDITS_PER_LOT,
      grantedAtMs,
      ref: `seed${i}`,
    });
    const entry = {
      id,
      type: EntryType.adjustment,
      atMs: grantedAtMs,
      ref: `seed${i}`,
      reason: 'bench',
    };
    const change = grantLots(state, entry, [lot]);
    items.push(...change.created.map((each) => lotToItem(customerId, each)));
    items.push(
      ...change.entries.map((each) => ledgerEntryToItem(customerId, each, grantedAtMs, 0)),
    );
    state = stateAfter(state, change);
  }
  const account = {
    ...accountKey(customerId),
    customerId,
    version: 1,
    lotsVersion: lots,
    lotCount: lots,
  };
  return [account, ...items];
}

async function twoSpends(
  options: { endpoint: string; tableName: string; raw: DynamoDBClient },
  customerId: string,
) {
  const proxy = await startRecordingProxy(options.endpoint);
  const container = creditsContainer(proxy.endpoint, options.tableName);
  const pk = customerPk(customerId);
  const spend = async (key: string) => {
    const before = await snapshotPartition(options.raw, options.tableName, pk);
    const from = proxy.exchanges.length;
    const answer = (await container.invoke({
      action: 'consume',
      customerId,
      amount: 1,
      idempotencyKey: key,
    })) as { ok?: boolean };
    if (answer.ok !== true) throw new Error(`spend refused: ${JSON.stringify(answer)}`);
    const exchanges = proxy.exchanges.slice(from);
    const after = await snapshotPartition(options.raw, options.tableName, pk);
    return { ...capacityOf(exchanges, { before, after }), calls: exchanges.length };
  };
  try {
    const cold = await spend('img-1');
    const cached = await spend('img-2');
    return { cold, cached };
  } finally {
    container.destroy();
    await proxy.close();
  }
}
