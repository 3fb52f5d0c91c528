import { DescribeTableCommand, DynamoDBClient, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { createPublishEventsHandler } from '../../functions/publish-events';
import { printingBus } from '../../lib/events/bus';
import { createLogger } from '../../lib/log';
import { TABLE_STREAM } from '../table';
import { createLambdaContext } from './functions';

/**
 * DynamoDB Local's change stream, read the way Lambda's event source mapping reads the real one:
 * each shard from an iterator, records handed to `publishEvents`' handler in batches, a partial
 * batch failure retried from the record it names. `npm start` runs this beside the webhook, so
 * every change made locally shows as the events it publishes; tests read the same streams.
 */
export type ShardStart = 'TRIM_HORIZON' | 'LATEST';

/** The table's stream ARN, after turning the stream on for a table made before it existed. */
export async function ensureStream(db: DynamoDBClient, tableName: string): Promise<string> {
  const described = await db.send(new DescribeTableCommand({ TableName: tableName }));
  const arn = described.Table?.LatestStreamArn;
  if (arn && described.Table?.StreamSpecification?.StreamEnabled) return arn;
  await db.send(
    new UpdateTableCommand({ TableName: tableName, StreamSpecification: TABLE_STREAM }),
  );
  const updated = await db.send(new DescribeTableCommand({ TableName: tableName }));
  const latest = updated.Table?.LatestStreamArn;
  if (!latest) throw new Error(`table ${tableName} has no stream after enabling it`);
  return latest;
}

/** The record as Lambda hands it to a function (times in epoch seconds, the stream's ARN). */
function asLambdaRecord(record: StreamRecord, streamArn: string): DynamoDBRecord {
  const created = record.dynamodb?.ApproximateCreationDateTime;
  return {
    ...(record as unknown as DynamoDBRecord),
    eventSourceARN: streamArn,
    dynamodb: {
      ...(record.dynamodb as unknown as DynamoDBRecord['dynamodb']),
      ...(created && { ApproximateCreationDateTime: Math.floor(created.getTime() / 1000) }),
    },
  };
}

/** How often a reader asks which shards exist (DynamoDB rolls shards over now and then). */
const SHARD_LIST_EVERY_MS = 5_000;

export type StreamReader = {
  /** The records written since the last read, each shard's in order, parents before children. */
  read(): Promise<DynamoDBRecord[]>;
};

export function openStreamReader(
  streams: DynamoDBStreamsClient,
  streamArn: string,
  start: ShardStart,
): StreamReader {
  /** Open shards -> their next iterator; closed shards are remembered so they are not reopened. */
  const iterators = new Map<string, string>();
  const closed = new Set<string>();
  let listedAtMs = Number.NEGATIVE_INFINITY;
  let first = true;

  async function listShards() {
    const response = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    for (const shard of response.StreamDescription?.Shards ?? []) {
      const id = shard.ShardId;
      if (!id || iterators.has(id) || closed.has(id)) continue;
      // Shards that appear after the reader opened start at their beginning: nothing is missed.
      const type = first ? start : 'TRIM_HORIZON';
      const opened = await streams.send(
        new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: id, ShardIteratorType: type }),
      );
      if (opened.ShardIterator) iterators.set(id, opened.ShardIterator);
    }
    first = false;
    listedAtMs = Date.now();
  }

  return {
    async read() {
      if (Date.now() - listedAtMs >= SHARD_LIST_EVERY_MS) await listShards();
      const records: DynamoDBRecord[] = [];
      for (const [shardId, iterator] of [...iterators]) {
        const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
        for (const record of page.Records ?? []) records.push(asLambdaRecord(record, streamArn));
        if (page.NextShardIterator) iterators.set(shardId, page.NextShardIterator);
        else {
          iterators.delete(shardId);
          closed.add(shardId);
          listedAtMs = Number.NEGATIVE_INFINITY;
        }
      }
      return records;
    },
  };
}

export type StreamHandler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;

export type StreamPumpOptions = {
  readonly reader: StreamReader;
  readonly handler: StreamHandler;
  /** Between polls when the stream had nothing new; default 500 ms. */
  readonly intervalMs?: number;
  /** Where the pump says what it gave up on; default the console. */
  readonly print?: (line: string) => void;
};

export type StreamPump = {
  /** Resolves once the current batch is done; nothing is read after. */
  stop(): Promise<void>;
};

/** Records per handler call: Lambda's default batch size for DynamoDB streams. */
export const LOCAL_BATCH_SIZE = 100;
/** Retries of a failed record before the pump gives up on it, as MaximumRetryAttempts would. */
export const LOCAL_MAX_RETRIES = 3;

/**
 * Polls the stream and feeds the handler until stopped. A batch whose handler reports a
 * failure is retried from the failed record after a pause; a record that fails
 * LOCAL_MAX_RETRIES retries is dropped with a line saying so (in AWS its position goes to the
 * dead-letter queue).
 */
export function startStreamPump(options: StreamPumpOptions): StreamPump {
  const intervalMs = options.intervalMs ?? 500;
  const print = options.print ?? ((line: string) => console.log(line));
  let stopped = false;
  let wake = () => {};
  const pending: DynamoDBRecord[] = [];
  let retries = 0;
  let failingSequence: string | undefined;

  const pause = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  async function once(): Promise<void> {
    if (pending.length === 0) pending.push(...(await options.reader.read()));
    if (pending.length === 0) return;
    const batch = pending.slice(0, LOCAL_BATCH_SIZE);
    const failed = firstFailure(batch, await options.handler({ Records: batch }));
    if (failed === undefined) {
      pending.splice(0, batch.length);
      retries = 0;
      return;
    }
    // The records before the failed one are done; a new failing record starts a new count.
    pending.splice(0, failed);
    const sequence = pending[0]?.dynamodb?.SequenceNumber;
    retries = sequence === failingSequence ? retries + 1 : 1;
    failingSequence = sequence;
    if (retries > LOCAL_MAX_RETRIES) {
      // As the mapping does with bisecting on: the one record that keeps failing is given up.
      pending.shift();
      print(
        `[events] gave up on stream record ${sequence} after ${LOCAL_MAX_RETRIES} retries ` +
          '(in AWS: the dead-letter queue)',
      );
      retries = 0;
    }
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (error) {
        print(`[events] reading the stream failed: ${(error as Error).message}`);
      }
      if (!stopped && (pending.length === 0 || retries > 0)) await pause();
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake();
      await loop;
    },
  };
}

/** The index of the first record the handler could not process, or undefined for none. */
function firstFailure(
  batch: readonly DynamoDBRecord[],
  response: DynamoDBBatchResponse,
): number | undefined {
  const failures = response.batchItemFailures ?? [];
  if (failures.length === 0) return undefined;
  const ids = new Set(failures.map((failure) => failure.itemIdentifier));
  const index = batch.findIndex((record) => ids.has(record.dynamodb?.SequenceNumber ?? ''));
  return index === -1 ? 0 : index;
}

/**
 * `npm start`'s publisher: the real `publishEvents` handler on DynamoDB Local's stream, with a
 * bus that prints each event as `[events] <detail-type> <detail>`. It reads from the moment it
 * starts (LATEST), so a restart on kept data does not print the last day's events again.
 */
export async function startLocalEvents(options: {
  readonly db: DynamoDBClient;
  readonly streams: DynamoDBStreamsClient;
  readonly tableName: string;
  readonly lowBalanceThreshold: number;
  readonly print?: (line: string) => void;
}): Promise<StreamPump> {
  const print = options.print ?? ((line: string) => console.log(line));
  const streamArn = await ensureStream(options.db, options.tableName);
  const reader = openStreamReader(options.streams, streamArn, 'LATEST');
  // Opening now fixes where LATEST is: a change made before the first poll is still seen.
  await reader.read();
  const publish = createPublishEventsHandler(() => ({
    bus: printingBus((line) => print(`[events] ${line}`)),
    // The per-batch summary is for CloudWatch; locally the events themselves are the output.
    logger: createLogger({ level: 'warn' }),
    settings: { lowBalanceThreshold: options.lowBalanceThreshold },
  }));
  return startStreamPump({
    reader,
    print,
    handler: (event) =>
      publish(event, createLambdaContext({ functionName: 'publishEvents', timeoutMs: 30_000 })),
  });
}

/** `npm start`'s hook: the publisher on the table's stream at `endpoint`, until stopped. */
export async function startLocalEventsAt(config: {
  readonly dynamoDbEndpoint?: string;
  readonly tableName: string;
  readonly lowBalanceThreshold: number;
}): Promise<StreamPump> {
  const clientConfig = {
    endpoint: config.dynamoDbEndpoint,
    region: process.env.AWS_REGION ?? 'local',
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    },
  };
  const db = new DynamoDBClient(clientConfig);
  const streams = new DynamoDBStreamsClient(clientConfig);
  const close = () => {
    db.destroy();
    streams.destroy();
  };
  try {
    const pump = await startLocalEvents({ db, streams, ...config });
    console.log('Events (C27) are printed as they are published: [events] <detail-type> <detail>');
    return {
      async stop() {
        await pump.stop();
        close();
      },
    };
  } catch (error) {
    close();
    throw error;
  }
}
