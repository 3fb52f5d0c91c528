import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { EVENT_SOURCE } from '../../lib/events/catalog';
import { eventId } from '../../lib/events/from-changes';
import { MAX_PUT_ATTEMPTS } from '../../lib/events/publish';
import { adjust, consume } from '../../lib/ledger/spending';
import { customerIdOfPk as customerOfPk } from '../../lib/store/keys';
import { grantOneLine } from '../support/grants';
import {
  entryIdOfRecord,
  firstArrivals,
  type PublisherHarness,
  publisherHarness,
  TEST_BUS,
} from '../support/publisher';
import { ledgerInserts } from '../support/streams';

const GRANTED_AT = '2026-11-01T00:00:00Z';
const NOW = Date.parse('2026-11-10T12:00:00Z');

let harness: PublisherHarness;
afterEach(async () => harness?.drop());

const deps = () => ({ ...harness.table, clock: () => NOW });

async function spend(customerId: string, key: string, amount = 1) {
  const outcome = await consume(deps(), { customerId, amount, idempotencyKey: key });
  expect(outcome.ok, key).toBe(true);
}

/** A customer with `credits` and `spends` consumptions of one credit, one after another. */
async function customerWithSpends(customerId: string, credits: number, spends: number) {
  await grantOneLine(harness.table, customerId, `in_${customerId}`, credits, GRANTED_AT);
  for (let i = 1; i <= spends; i++) await spend(customerId, `img-${i}`);
}

describe('Function: publishEvents (DynamoDB Local stream -> EventBridge fake)', () => {
  it('C27 publishes every ledger entry once, with its natural key as id, to the bus', async () => {
    // Prepare
    harness = await publisherHarness();
    await customerWithSpends('cus_a', 30, 2);
    await adjust(deps(), {
      customerId: 'cus_a',
      amount: 5,
      reason: 'goodwill',
      idempotencyKey: 'adj-1',
    });
    const records = await harness.stream.next(4);

    // Act
    const response = await harness.invoke(records);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const events = harness.acceptedOf('cus_a');
    expect(events.map((event) => event.detail.id)).toEqual(await harness.ledgerEventIds('cus_a'));
    expect(events.map((event) => [event.detailType, event.detail.amount])).toEqual([
      ['credits.granted', 30],
      ['credits.consumed', -1],
      ['credits.consumed', -1],
      ['credits.adjusted', 5],
    ]);
    expect(events[1]).toMatchObject({
      source: EVENT_SOURCE,
      busName: TEST_BUS,
      detail: {
        id: eventId('entry', 'cus_a', 'consume#img-1'),
        customerId: 'cus_a',
        type: 'consumption',
        balanceAfter: 29,
        at: '2026-11-10T12:00:00.000Z',
        ref: 'img-1',
      },
    });
    expect(events[3]?.detail.reason).toBe('goodwill');
    expect(harness.bus.calls.every((call) => call.signed)).toBe(true);
  });

  it('C27 a batch delivered again publishes the same ids again, so subscribers can drop them', async () => {
    // Prepare
    harness = await publisherHarness();
    await customerWithSpends('cus_b', 100, 3);
    const records = await harness.stream.next(4);

    // Act: Lambda may deliver a batch twice (a timeout after the puts, a redeploy).
    await harness.invoke(records);
    await harness.invoke(records);

    // Assess
    const ids = harness.acceptedOf('cus_b').map((event) => event.detail.id);
    const ledger = await harness.ledgerEventIds('cus_b');
    expect(ids).toEqual([...ledger, ...ledger]);
    expect(firstArrivals(harness.acceptedOf('cus_b'))).toEqual(ledger);
  });

  /** Two customers, each spent by ten concurrent callers; the stream's records of it all. */
  async function concurrentSpends() {
    for (const customer of ['cus_c', 'cus_d']) {
      await grantOneLine(harness.table, customer, `in_${customer}`, 100, GRANTED_AT);
    }
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        Promise.all([spend('cus_c', `c-${i}`), spend('cus_d', `d-${i}`)]),
      ),
    );
    const records = await harness.stream.next(22);
    const inserts = ledgerInserts(records);
    expect(inserts).toHaveLength(22);
    const streamOrder = (customer: string) =>
      inserts
        .filter((record) => record.dynamodb?.Keys?.pk?.S === `CUST#${customer}`)
        .map((record) => eventId('entry', customer, entryIdOfRecord(record)));
    return { records, inserts, streamOrder };
  }

  /** What a subscriber that orders by `sequence` sees: the customer's ledger order. */
  function bySequence(events: readonly { detail: { id: string; sequence?: unknown } }[]) {
    return firstArrivals(
      [...events].sort((a, b) =>
        String(a.detail.sequence).localeCompare(String(b.detail.sequence)),
      ),
    );
  }

  it("C27 puts each customer's events in the stream's order under concurrent spends", async () => {
    // Prepare
    harness = await publisherHarness();
    const { records, streamOrder } = await concurrentSpends();

    // Act
    const invocations = await harness.deliver(records);

    // Assess: every entry once, each customer's in the order the stream recorded them; sorted
    // by `sequence`, in the order of the customer's ledger.
    expect(invocations).toEqual([{ records: records.length }]);
    for (const customer of ['cus_c', 'cus_d']) {
      const events = harness.acceptedOf(customer);
      expect(
        events.map((event) => event.detail.id),
        customer,
      ).toEqual(streamOrder(customer));
      expect(bySequence(events)).toEqual(await harness.ledgerEventIds(customer));
    }
  });

  it('C27 after a partial refusal, everything from the refused event on is put again, in order', async () => {
    // Prepare: a refusal in the middle that outlasts the handler's own retries.
    harness = await publisherHarness();
    const { records, inserts, streamOrder } = await concurrentSpends();
    const middle = inserts[12] ?? {};
    const victimCustomer = customerOfPk(middle.dynamodb?.Keys?.pk?.S ?? '');
    harness.bus.refuse(eventId('entry', victimCustomer, entryIdOfRecord(middle)), {
      times: MAX_PUT_ATTEMPTS,
    });

    // Act
    const invocations = await harness.deliver(records);

    // Assess: one retry, from the refused entry's record. Events of the same call after the
    // refused one arrived before it (PutEvents accepted them), and arrive again after it, so
    // the last copy of each is in stream order; `sequence` orders them whatever arrived first.
    expect(invocations.map((each) => each.failed)).toEqual([
      middle.dynamodb?.SequenceNumber,
      undefined,
    ]);
    for (const customer of ['cus_c', 'cus_d']) {
      const events = harness.acceptedOf(customer);
      const lastCopies = firstArrivals([...events].reverse()).reverse();
      expect(lastCopies, customer).toEqual(streamOrder(customer));
      expect(bySequence(events)).toEqual(await harness.ledgerEventIds(customer));
    }
  });

  it('C27 retries only the failed record and those after it; earlier ones are never sent again', async () => {
    // Prepare
    harness = await publisherHarness();
    await customerWithSpends('cus_e', 100, 5);
    const records = await harness.stream.next(6);
    const ids = await harness.ledgerEventIds('cus_e');
    harness.bus.refuse(ids[3] as string, { times: MAX_PUT_ATTEMPTS });

    // Act
    const first = await harness.invoke(records);

    // Assess: the failed record is named; everything of the same call but the refused event went.
    const failedRecord = ledgerInserts(records)[3];
    expect(first.batchItemFailures).toEqual([
      { itemIdentifier: failedRecord?.dynamodb?.SequenceNumber },
    ]);
    expect(harness.acceptedOf('cus_e').map((event) => event.detail.id)).toEqual([
      ...ids.slice(0, 3),
      ...ids.slice(4),
    ]);

    // Act: Lambda's retry, from the failed record.
    const again = records.slice(records.indexOf(failedRecord as (typeof records)[number]));
    expect((await harness.invoke(again)).batchItemFailures).toEqual([]);

    // Assess: the three before the failure once; from it on, sent again (same ids).
    const counts = new Map<string, number>();
    for (const event of harness.acceptedOf('cus_e')) {
      counts.set(event.detail.id, (counts.get(event.detail.id) ?? 0) + 1);
    }
    expect(ids.map((id) => counts.get(id))).toEqual([1, 1, 1, 1, 2, 2]);
  });

  it('C27 puts a refused event again within the invocation when EventBridge says it may', async () => {
    // Prepare
    harness = await publisherHarness();
    await customerWithSpends('cus_f', 100, 2);
    const records = await harness.stream.next(3);
    const ids = await harness.ledgerEventIds('cus_f');
    harness.bus.refuse(ids[1] as string, { code: 'ThrottlingException', times: 1 });

    // Act
    const response = await harness.invoke(records);

    // Assess: no batch failure, no duplicate; the second call carried only the refused event.
    expect(response.batchItemFailures).toEqual([]);
    expect(
      harness
        .acceptedOf('cus_f')
        .map((event) => event.detail.id)
        .sort(),
    ).toEqual([...ids].sort());
    expect(harness.bus.calls.map((call) => call.entries.length)).toEqual([3, 1]);
  });

  it('C27 a refusal that is final fails the record at once, without futile puts', async () => {
    // Prepare
    harness = await publisherHarness();
    await customerWithSpends('cus_g', 100, 1);
    const records = await harness.stream.next(2);
    const ids = await harness.ledgerEventIds('cus_g');
    harness.bus.refuse(ids[0] as string, { code: 'MalformedDetail' });

    // Act
    const response = await harness.invoke(records);

    // Assess
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: ledgerInserts(records)[0]?.dynamodb?.SequenceNumber },
    ]);
    expect(harness.bus.calls).toHaveLength(1);
    expect(harness.log.lines()).toContainEqual(
      expect.objectContaining({ message: 'PutEvents refused an event', code: 'MalformedDetail' }),
    );
  });

  it('C27 a throttled PutEvents is retried by the SDK; throttled beyond all retries, the batch is retried', async () => {
    // Prepare
    harness = await publisherHarness({ sdkMaxAttempts: 2 });
    await customerWithSpends('cus_h', 100, 1);
    const records = await harness.stream.next(2);
    harness.bus.throttle(1);

    // Act: one throttle is absorbed by the SDK's retry strategy.
    const absorbed = await harness.invoke(records);

    // Assess
    expect(absorbed.batchItemFailures).toEqual([]);
    expect(harness.bus.calls.map((call) => call.answered)).toEqual(['throttled', 'ok']);
    expect(harness.acceptedOf('cus_h')).toHaveLength(2);

    // Act: throttled on every attempt (the SDK's 2 x the handler's MAX_PUT_ATTEMPTS).
    harness.bus.throttle(2 * MAX_PUT_ATTEMPTS);
    const throttled = await harness.invoke(records);

    // Assess: the first record with an event is the one to retry; nothing more arrived.
    expect(throttled.batchItemFailures).toEqual([
      { itemIdentifier: ledgerInserts(records)[0]?.dynamodb?.SequenceNumber },
    ]);
    expect(harness.acceptedOf('cus_h')).toHaveLength(2);
  });

  it('C27 a record it cannot read fails from that record; the ones before it are published', async () => {
    // Prepare: a well-formed spend, then an entry no writer of this code could make.
    harness = await publisherHarness();
    await customerWithSpends('cus_i', 100, 1);
    await harness.table.db.send(
      new PutCommand({
        TableName: harness.table.tableName,
        Item: {
          pk: 'CUST#cus_i',
          sk: 'LEDGER#2026-11-10T13:00:00.000Z#000#broken',
          type: 'consumption',
        },
      }),
    );
    const records = await harness.stream.next(3);

    // Act
    const response = await harness.invoke(records);

    // Assess
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: records.at(-1)?.dynamodb?.SequenceNumber },
    ]);
    expect(harness.acceptedOf('cus_i')).toHaveLength(2);
    expect(harness.log.lines()).toContainEqual(
      expect.objectContaining({ message: 'stream record cannot be published' }),
    );
  });
});
