import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { ensureStream, openStreamReader } from '../../infra/local/streams';
import { localClientConfig } from './table';

/**
 * A test table's real change stream on DynamoDB Local, read from its beginning: `next()` returns
 * the records written since the previous call, as Lambda would hand them to publishEvents.
 */
export async function tableStream(table: { readonly tableName: string }) {
  const db = new DynamoDBClient(localClientConfig());
  const streams = new DynamoDBStreamsClient(localClientConfig());
  const arn = await ensureStream(db, table.tableName);
  const reader = openStreamReader(streams, arn, 'TRIM_HORIZON');
  return {
    /** The records since the last call; waits briefly for at least `atLeast` of them. */
    async next(atLeast = 1): Promise<DynamoDBRecord[]> {
      const records: DynamoDBRecord[] = [];
      const deadline = Date.now() + 5_000;
      do {
        records.push(...(await reader.read()));
        if (records.length >= atLeast) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      } while (Date.now() < deadline);
      return records;
    },
    close() {
      db.destroy();
      streams.destroy();
    },
  };
}

/** The records that wrote ledger entries, in stream order. */
export function ledgerInserts(records: readonly DynamoDBRecord[]): DynamoDBRecord[] {
  return records.filter(
    (record) =>
      record.eventName === 'INSERT' && record.dynamodb?.Keys?.sk?.S?.startsWith('LEDGER#'),
  );
}
