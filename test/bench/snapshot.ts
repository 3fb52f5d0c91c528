import {
  type AttributeValue,
  type DynamoDBClient,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { keyOf } from './capacity';
import type { Item } from './item-size';

/**
 * The items of a table (or of one partition) in DynamoDB's wire format, by key, read with a
 * client that does not go through the recording proxy, so that taking them is not counted as
 * the event's own calls. capacity.ts sizes an event's writes from the snapshots around it.
 */
export type Snapshot = ReadonlyMap<string, Item>;

export function snapshotTable(client: DynamoDBClient, tableName: string): Promise<Snapshot> {
  return collect((startKey) =>
    client.send(
      new ScanCommand({
        TableName: tableName,
        ConsistentRead: true,
        ...(startKey && { ExclusiveStartKey: startKey }),
      }),
    ),
  );
}

/** One partition (a customer's items), for tables too large to scan around every event. */
export function snapshotPartition(
  client: DynamoDBClient,
  tableName: string,
  pk: string,
): Promise<Snapshot> {
  return collect((startKey) =>
    client.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: pk } },
        ConsistentRead: true,
        ...(startKey && { ExclusiveStartKey: startKey }),
      }),
    ),
  );
}

type Key = Record<string, AttributeValue>;
type Page = { Items?: Key[]; LastEvaluatedKey?: Key };

/** Every item of a paged read, by key. */
async function collect(read: (startKey: Key | undefined) => Promise<Page>): Promise<Snapshot> {
  const items = new Map<string, Item>();
  let startKey: Key | undefined;
  do {
    const page = await read(startKey);
    for (const item of page.Items ?? []) items.set(keyOf(item as Item), item as Item);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** Snapshots of several partitions, merged (a referral writes two customers). */
export async function snapshotPartitions(
  client: DynamoDBClient,
  tableName: string,
  pks: readonly string[],
): Promise<Snapshot> {
  const merged = new Map<string, Item>();
  for (const pk of pks) {
    for (const [key, item] of await snapshotPartition(client, tableName, pk)) merged.set(key, item);
  }
  return merged;
}
