import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ensureStream,
  LOCAL_MAX_RETRIES,
  openStreamReader,
  startLocalEvents,
  startStreamPump,
} from '../../infra/local/streams';
import { createTableInput } from '../../infra/table';
import { consume } from '../../lib/ledger/spending';
import { grantOneLine } from '../support/grants';
import { freshTable, localClientConfig } from '../support/table';

let table: Awaited<ReturnType<typeof freshTable>> | undefined;
const clients: { destroy(): void }[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await table?.drop();
  table = undefined;
});

function dynamo() {
  const db = new DynamoDBClient(localClientConfig());
  const streams = new DynamoDBStreamsClient(localClientConfig());
  clients.push(db, streams);
  return { db, streams };
}

async function until(condition: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('Local stack: DynamoDB Local streams (npm start)', () => {
  it('turns the stream on for a table created before it existed', async () => {
    // Prepare: a table as CreateTable makes it from infra/table.json, without its stream.
    const { db } = dynamo();
    const withoutStream = createTableInput(`old-${Date.now()}`);
    await db.send(new CreateTableCommand(withoutStream));
    // Act
    const arn = await ensureStream(db, withoutStream.TableName as string);
    // Assess
    expect(arn).toMatch(/\/stream\//);
    expect(await ensureStream(db, withoutStream.TableName as string)).toBe(arn);
    await db.send(new DeleteTableCommand({ TableName: withoutStream.TableName }));
  });

  it('feeds the handler, retries from a reported failure, and gives up after its retries', async () => {
    // Prepare
    table = await freshTable('local-streams');
    const { db, streams } = dynamo();
    const arn = await ensureStream(db, table.tableName);
    await grantOneLine(table, 'cus_p', 'in_p', 10, '2026-11-01T00:00:00Z');
    const reader = openStreamReader(streams, arn, 'TRIM_HORIZON');
    const batches: number[] = [];
    const printed: string[] = [];
    const first = await reader.read();
    const bad = first[1]?.dynamodb?.SequenceNumber as string;
    // A handler that can never publish the stream's second record.
    const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
      batches.push(event.Records.length);
      const failing = event.Records.some((record) => record.dynamodb?.SequenceNumber === bad);
      return { batchItemFailures: failing ? [{ itemIdentifier: bad }] : [] };
    };
    const replay = { read: async () => first.splice(0) };

    // Act
    const pump = startStreamPump({
      reader: replay,
      handler,
      intervalMs: 20,
      print: (line) => printed.push(line),
    });
    await until(() => batches.length >= LOCAL_MAX_RETRIES + 2);
    await pump.stop();

    // Assess: the whole batch; then from the bad record on, retried; then the rest without it.
    const total = batches[0] as number;
    expect(total).toBeGreaterThan(2);
    expect(batches).toEqual([
      total,
      ...Array.from({ length: LOCAL_MAX_RETRIES }, () => total - 1),
      total - 2,
    ]);
    expect(printed).toEqual([expect.stringContaining(`gave up on stream record ${bad}`)]);
  });

  it('C27 prints each event published from the moment it starts, not before', async () => {
    // Prepare: a change in the stream before the publisher starts.
    table = await freshTable('local-events');
    const { db, streams } = dynamo();
    await ensureStream(db, table.tableName);
    await grantOneLine(table, 'cus_q', 'in_q', 20, '2026-11-01T00:00:00Z');
    const printed: string[] = [];
    const pump = await startLocalEvents({
      db,
      streams,
      tableName: table.tableName,
      lowBalanceThreshold: 10,
      print: (line) => printed.push(line),
    });
    // Act: a spend after it started.
    await consume(
      { ...table, clock: () => Date.parse('2026-11-05T00:00:00Z') },
      { customerId: 'cus_q', amount: 12, idempotencyKey: 'img-1' },
    );
    await until(() => printed.length >= 2);
    await pump.stop();
    // Assess
    expect(printed.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
      '[events] credits.consumed',
      '[events] credits.low',
    ]);
    expect(JSON.parse(printed[0]?.split(' ').slice(2).join(' ') ?? '{}')).toMatchObject({
      id: 'entry/cus_q/consume#img-1',
      balanceAfter: 8,
    });
  });
});
