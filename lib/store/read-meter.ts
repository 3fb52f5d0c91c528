import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Counts the items a job's DynamoDB calls actually read, from the responses themselves rather
 * than from what the job believes it asked for: a Query or Scan counts its ScannedCount (what
 * DynamoDB evaluated, filter or not), a BatchGet the items it returned, a Get its one item.
 * Writes read nothing. The job reports the total as `itemsRead`, so the benchmark and ops see
 * the real cost, retries after lost races included.
 */
export type ReadMeter = {
  /** The same client, every `send` counted. */
  readonly db: DynamoDBDocumentClient;
  itemsRead(): number;
};

type ReadOutput = {
  ScannedCount?: number;
  Count?: number;
  Responses?: Record<string, unknown[]> | unknown[];
  Item?: unknown;
};

export function meterReads(db: DynamoDBDocumentClient): ReadMeter {
  let itemsRead = 0;
  const send = async (...args: unknown[]) => {
    const output = await (db.send as (...inner: unknown[]) => Promise<unknown>).apply(db, args);
    itemsRead += itemsIn(output as ReadOutput | undefined);
    return output;
  };
  const metered = new Proxy(db, {
    get(target, property, receiver) {
      if (property === 'send') return send;
      return Reflect.get(target, property, receiver);
    },
  });
  return { db: metered, itemsRead: () => itemsRead };
}

function itemsIn(output: ReadOutput | undefined): number {
  if (!output) return 0;
  if (typeof output.ScannedCount === 'number') return output.ScannedCount;
  if (typeof output.Count === 'number') return output.Count;
  if (output.Responses && !Array.isArray(output.Responses)) {
    // BatchGetItem: table name -> items. (TransactWriteItems has no Responses map.)
    return Object.values(output.Responses).reduce((sum, items) => sum + items.length, 0);
  }
  return output.Item ? 1 : 0;
}
