import { afterEach, describe, expect, it } from 'vitest';
import { reserve, settle } from '../../lib/ledger/holds';
import { consume } from '../../lib/ledger/spending';
import { grantOneLine } from '../support/grants';
import { firstArrivals, type PublisherHarness, publisherHarness } from '../support/publisher';

const GRANTED_AT = '2026-11-01T00:00:00Z';
const NOW = Date.parse('2026-11-10T12:00:00Z');

let harness: PublisherHarness;
afterEach(async () => harness?.drop());

const deps = () => ({ ...harness.table, clock: () => NOW });

describe('Function: publishEvents under concurrent writes of one customer (C16 C27)', () => {
  it('C16 C27 12 spends and 4 one-credit jobs at once, delivered twice: one event per entry, and `sequence` orders them as the ledger', async () => {
    // Prepare
    harness = await publisherHarness();
    await grantOneLine(harness.table, 'cus_hot', 'in_hot', 100, GRANTED_AT);

    // Act: every caller at once, as the image app does for a burst of images.
    const spends = Array.from({ length: 12 }, (_, i) =>
      consume(deps(), { customerId: 'cus_hot', amount: 1, idempotencyKey: `img-${i}` }),
    );
    const jobs = Array.from({ length: 4 }, async (_, i) => {
      const holdId = `job-${i}`;
      const held = await reserve(deps(), {
        customerId: 'cus_hot',
        amount: 1,
        holdId,
        ttlSeconds: 600,
      });
      expect(held.ok, holdId).toBe(true);
      return settle(deps(), { customerId: 'cus_hot', holdId, amount: 1 });
    });
    const answers = await Promise.all([...spends, ...jobs]);
    const expected = await harness.ledgerEventIds('cus_hot');
    const records = await harness.stream.next(expected.length);
    // Lambda redelivers a batch whose invocation it could not confirm: all of it again.
    expect((await harness.invoke(records)).batchItemFailures).toEqual([]);
    expect((await harness.invoke(records)).batchItemFailures).toEqual([]);

    // Assess
    expect(answers.every((answer) => answer.ok)).toBe(true);
    const events = harness.acceptedOf('cus_hot');
    expect(events).toHaveLength(2 * expected.length);
    // A subscriber dropping duplicates by id sees each entry exactly once...
    expect(new Set(firstArrivals(events))).toEqual(new Set(expected));
    // ...and sorting by sequence gives the customer's ledger order whatever the arrival order.
    const bySequence = [...new Map(events.map((event) => [event.detail.id, event])).values()]
      .sort((a, b) => (String(a.detail.sequence) < String(b.detail.sequence) ? -1 : 1))
      .map((event) => event.detail.id);
    expect(bySequence).toEqual(expected);
    const consumed = events
      .filter((event) => event.detailType === 'credits.consumed')
      .reduce((sum, event) => sum + Number(event.detail.amount), 0);
    // 12 spends and 4 settles of one credit, each published twice.
    expect(consumed).toBe(-2 * 16);
  });
});
