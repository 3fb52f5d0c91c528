import type { Context, DynamoDBBatchResponse, DynamoDBRecord } from 'aws-lambda';
import { createPublishEventsHandler } from '../../functions/publish-events';
import { eventBridgeBus } from '../../lib/events/bus';
import { eventId, ledgerPosition } from '../../lib/events/from-changes';
import { capturingLogger } from '../../lib/log';
import { wholeLedger } from '../../lib/store/ledger';
import { type EventBridgeFake, startEventBridgeFake } from './eventbridge-fake';
import { tableStream } from './streams';
import { freshTable } from './table';

export const TEST_BUS = 'image-credits-test';

/**
 * The real `publishEvents` handler on a fresh DynamoDB Local table's real stream, putting to a
 * local EventBridge fake through the real SDK client. `deliver` plays Lambda's event source
 * mapping: it invokes the handler with a batch and, while the handler reports a failed record,
 * invokes it again with the batch from that record on.
 */
export async function publisherHarness(
  options: { lowBalanceThreshold?: number; sdkMaxAttempts?: number } = {},
) {
  const table = await freshTable('publish');
  const stream = await tableStream(table);
  const bus: EventBridgeFake = await startEventBridgeFake();
  const client = bus.client(
    options.sdkMaxAttempts === undefined ? {} : { maxAttempts: options.sdkMaxAttempts },
  );
  const log = capturingLogger();
  const handler = createPublishEventsHandler(() => ({
    bus: eventBridgeBus(client, TEST_BUS),
    logger: log.logger,
    settings: { lowBalanceThreshold: options.lowBalanceThreshold ?? 10 },
  }));
  const context = { getRemainingTimeInMillis: () => 30_000 } as Context;

  async function invoke(records: readonly DynamoDBRecord[]): Promise<DynamoDBBatchResponse> {
    return handler({ Records: [...records] }, context);
  }

  return {
    table,
    stream,
    bus,
    log,
    invoke,
    /** Lambda's retries: returns each invocation's batch size and answer. */
    async deliver(records: readonly DynamoDBRecord[], maxInvocations = 5) {
      const invocations: { records: number; failed?: string }[] = [];
      let batch = [...records];
      while (batch.length > 0 && invocations.length < maxInvocations) {
        const failed = (await invoke(batch)).batchItemFailures[0]?.itemIdentifier;
        invocations.push({ records: batch.length, ...(failed && { failed }) });
        if (!failed) break;
        batch = batch.slice(batch.findIndex((r) => r.dynamodb?.SequenceNumber === failed));
      }
      return invocations;
    },
    /** The event ids of a customer's ledger entries, in ledger order. */
    async ledgerEventIds(customerId: string) {
      const entries = await wholeLedger(table, customerId);
      return entries.map((entry) =>
        eventId('entry', customerId, entry.id ?? ledgerPosition(entry.sk).derivedId),
      );
    },
    /** Accepted events of one customer, in the order the fake accepted them. */
    acceptedOf(customerId: string) {
      return bus.accepted.filter((event) => event.detail.customerId === customerId);
    },
    async drop() {
      stream.close();
      client.destroy();
      await bus.stop();
      await table.drop();
    },
  };
}

export type PublisherHarness = Awaited<ReturnType<typeof publisherHarness>>;

/** Ids in order of first arrival: what a subscriber that drops duplicates sees. */
export function firstArrivals(events: readonly { detail: { id: string } }[]): string[] {
  return [...new Set(events.map((event) => event.detail.id))];
}

/** The entry id a ledger INSERT record writes. */
export function entryIdOfRecord(record: DynamoDBRecord): string {
  const image = record.dynamodb?.NewImage;
  return image?.id?.S ?? ledgerPosition(record.dynamodb?.Keys?.sk?.S ?? '').derivedId;
}
