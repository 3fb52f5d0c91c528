import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { StoreDeps } from '../../lib/store/client';

/** Items per BatchWriteItem (DynamoDB's limit) and batches in flight at once. */
const BATCH_ITEMS = 25;
const WRITERS = 8;
const MAX_ROUNDS = 10;

/**
 * Writes prepared items (built by the store's own codec) with BatchWriteItem, much faster on
 * DynamoDB Local than one transaction each: for set-ups that need thousands of items.
 */
export async function writeAll(deps: StoreDeps, items: readonly Record<string, unknown>[]) {
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += BATCH_ITEMS) batches.push(items.slice(i, i + BATCH_ITEMS));
  let next = 0;
  const writer = async () => {
    while (next < batches.length) {
      const batch = batches[next++];
      if (batch) await writeBatch(deps, batch);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
}

async function writeBatch(deps: StoreDeps, items: readonly Record<string, unknown>[]) {
  let pending = items.map((Item) => ({ PutRequest: { Item } }));
  for (let round = 1; pending.length > 0; round++) {
    if (round > MAX_ROUNDS) throw new Error('BatchWriteItem kept items unprocessed');
    const response = await deps.db.send(
      new BatchWriteCommand({ RequestItems: { [deps.tableName]: pending } }),
    );
    pending = (response.UnprocessedItems?.[deps.tableName] ?? []) as typeof pending;
  }
}
