import { describe, expect, it } from 'vitest';
import { DetailType, ENTRY_EVENTS, entryEventOf } from '../../lib/events/catalog';
import { crossesBelow, eventsOfChange, ledgerPosition } from '../../lib/events/from-changes';
import { kindOfSk, type TableChange } from '../../lib/store/stream';

const settings = { lowBalanceThreshold: 10 };
const SK = 'LEDGER#2026-11-05T10:00:00.000Z#000#consume#img-1';

function change(
  sk: string,
  fields: Partial<TableChange> & { newItem?: Record<string, unknown> },
): TableChange {
  return {
    change: 'INSERT',
    sequenceNumber: '100',
    kind: kindOfSk(sk),
    pk: 'CUST#cus_a',
    sk,
    ...fields,
  };
}

function entry(fields: Record<string, unknown> = {}) {
  return {
    pk: 'CUST#cus_a',
    sk: SK,
    customerId: 'cus_a',
    id: 'consume#img-1',
    type: 'consumption',
    amount: -1,
    balanceAfter: 20,
    at: '2026-11-05T10:00:00.000Z',
    ref: 'img-1',
    lots: [{ lotId: 'in_1#il_1', amount: -1 }],
    recordedAt: '2026-11-05T10:00:00.000Z',
    ...fields,
  };
}

describe('Function: eventsOfChange', () => {
  it('C27 turns a new ledger entry into one event whose id is its natural key', () => {
    // Act
    const { events } = eventsOfChange(change(SK, { newItem: entry() }), settings);
    // Assess
    expect(events).toEqual([
      {
        detailType: DetailType.consumed,
        time: '2026-11-05T10:00:00.000Z',
        detail: {
          id: 'entry/cus_a/consume#img-1',
          customerId: 'cus_a',
          type: 'consumption',
          amount: -1,
          balanceAfter: 20,
          at: '2026-11-05T10:00:00.000Z',
          ref: 'img-1',
          sequence: '2026-11-05T10:00:00.000Z#000',
          entryId: 'consume#img-1',
        },
      },
    ]);
  });

  it('C27 gives every entry type of today its own detail-type, and an unknown one credits.adjusted', () => {
    // Assess: the six types of C13, each mapped; a type added later without a line still goes out.
    for (const type of ['grant', 'referral_bonus', 'consumption', 'expiry', 'forfeit']) {
      expect(entryEventOf(type), type).toMatchObject({ known: true });
      expect(entryEventOf(type).detailType).not.toBe(DetailType.adjusted);
    }
    expect(entryEventOf('adjustment')).toEqual({ detailType: DetailType.adjusted, known: true });
    expect(new Set(Object.values(ENTRY_EVENTS).map((each) => each.detailType)).size).toBe(
      Object.keys(ENTRY_EVENTS).length,
    );
    const unknown = eventsOfChange(
      change(SK, { newItem: entry({ type: 'lapse', amount: 3 }) }),
      settings,
    );
    expect(unknown.events[0]).toMatchObject({
      detailType: DetailType.adjusted,
      detail: { type: 'lapse' },
    });
    expect(unknown.unknownEntryType).toBe('lapse');
    // `toString` and friends are not entry types.
    expect(entryEventOf('toString').known).toBe(false);
  });

  it('C27 derives the id of a 0.1.0 entry, which has none, from its sequence number', () => {
    // Prepare: 0.1.0 numbered the ledger and wrote neither id nor customerId nor recordedAt.
    const legacySk = 'LEDGER#000000000042';
    const { customerId: _c, id: _i, recordedAt: _r, ...legacy } = entry({ sk: legacySk });
    // Act
    const { events } = eventsOfChange(change(legacySk, { newItem: legacy }), settings);
    // Assess
    expect(events[0]?.detail).toMatchObject({
      id: 'entry/cus_a/seq#000000000042',
      customerId: 'cus_a',
      sequence: '000000000042',
    });
    expect(events[0]?.time).toBeUndefined();
    expect(ledgerPosition(SK)).toEqual({
      sequence: '2026-11-05T10:00:00.000Z#000',
      derivedId: 'consume#img-1',
    });
  });

  it('C27 keeps ids of different customers apart whatever characters their ids hold', () => {
    // Act
    const slash = eventsOfChange(
      change(SK, { pk: 'CUST#a/b', newItem: entry({ customerId: 'a/b', id: 'c' }) }),
      settings,
    );
    const plain = eventsOfChange(
      change(SK, { pk: 'CUST#a', newItem: entry({ customerId: 'a', id: 'b/c' }) }),
      settings,
    );
    // Assess
    expect(slash.events[0]?.detail.id).not.toBe(plain.events[0]?.detail.id);
  });

  it.each([
    // [balance after, amount, crosses below 10?]
    [9, -1, true],
    [9, -3, true],
    [0, -10, true],
    [10, -1, false],
    [8, -1, false],
    [11, -1, false],
    [9, 1, false],
  ])(
    'C27 credits.low: a consumption to %i taking %i crosses below 10: %s',
    (after, amount, low) => {
      // Act
      const { events } = eventsOfChange(
        change(SK, { newItem: entry({ balanceAfter: after, amount }) }),
        settings,
      );
      // Assess
      expect(crossesBelow({ balanceAfter: after, amount }, 10)).toBe(low);
      const notice = events.find((event) => event.detailType === DetailType.low);
      expect(Boolean(notice)).toBe(low && amount < 0);
      if (notice) {
        expect(notice.detail).toMatchObject({
          id: 'low/cus_a/consume#img-1',
          type: 'low_balance',
          threshold: 10,
          balanceAfter: after,
          entryId: 'consume#img-1',
        });
      }
    },
  );

  it('C27 credits.low only for spends: a forfeit or an expiry below the threshold says nothing', () => {
    for (const type of ['forfeit', 'expiry', 'adjustment']) {
      const { events } = eventsOfChange(
        change(SK, { newItem: entry({ type, amount: -5, balanceAfter: 5 }) }),
        settings,
      );
      expect(events.map((event) => event.detailType)).not.toContain(DetailType.low);
    }
  });

  it('C27 credits.expiring only when the daily job has just marked the lot', () => {
    // Prepare
    const sk = 'STATE#LOT#2027-02-01T00:00:00.000Z#in_1#il_1';
    const lot = {
      pk: 'CUST#cus_a',
      sk,
      customerId: 'cus_a',
      lotId: 'in_1#il_1',
      ref: 'in_1',
      remaining: 7,
      granted: 10,
      expiresAt: '2027-02-01T00:00:00.000Z',
    };
    const marked = { ...lot, expiringNoticeAt: '2027-01-26T00:05:00.000Z' };
    // Act
    const notice = eventsOfChange(
      change(sk, { change: 'MODIFY', oldItem: lot, newItem: marked }),
      settings,
    );
    const spendAfter = eventsOfChange(
      change(sk, { change: 'MODIFY', oldItem: marked, newItem: { ...marked, remaining: 6 } }),
      settings,
    );
    const spendBefore = eventsOfChange(
      change(sk, { change: 'MODIFY', oldItem: lot, newItem: { ...lot, remaining: 6 } }),
      settings,
    );
    // Assess
    expect(notice.events).toEqual([
      {
        detailType: DetailType.expiring,
        time: '2027-01-26T00:05:00.000Z',
        detail: {
          id: 'expiring/cus_a/in_1#il_1',
          customerId: 'cus_a',
          type: 'expiring',
          amount: 7,
          balanceAfter: null,
          at: '2027-02-01T00:00:00.000Z',
          ref: 'in_1',
          lotId: 'in_1#il_1',
          expiresAt: '2027-02-01T00:00:00.000Z',
        },
      },
    ]);
    expect(spendAfter.events).toEqual([]);
    expect(spendBefore.events).toEqual([]);
  });

  it('C12 C27 referral.rejected from the fact that records the rejection', () => {
    // Prepare
    const sk = 'FACT#grant#in_9';
    const fact = {
      pk: 'CUST#cus_a',
      sk,
      fingerprint: '{}',
      recordedAt: '2026-11-01T00:10:00.000Z',
      outcome: {
        result: 'granted',
        credits: 500,
        balance: 500,
        referral: { result: 'rejected', reason: 'unknown_code' },
      },
    };
    const redeemed = {
      ...fact,
      outcome: { ...fact.outcome, referral: { result: 'redeemed', bonus: 250 } },
    };
    // Act
    const rejected = eventsOfChange(change(sk, { newItem: fact }), settings);
    const other = eventsOfChange(change(sk, { newItem: redeemed }), settings);
    // Assess
    expect(rejected.events).toEqual([
      {
        detailType: DetailType.referralRejected,
        time: '2026-11-01T00:10:00.000Z',
        detail: {
          id: 'referral-rejected/cus_a/grant#in_9',
          customerId: 'cus_a',
          type: 'referral_rejected',
          amount: 0,
          balanceAfter: null,
          at: '2026-11-01T00:10:00.000Z',
          ref: 'in_9',
          reason: 'unknown_code',
        },
      },
    ]);
    expect(other.events).toEqual([]);
  });

  it('tells nothing for the account, subscriptions, removals and lots as spends change them', () => {
    const cases: TableChange[] = [
      change('STATE#ACCOUNT', { change: 'MODIFY', newItem: { version: 2 } }),
      change('STATE#SUB#sub_1', { newItem: { subscriptionId: 'sub_1' } }),
      change(SK, { change: 'REMOVE' }),
      change('STATE#LOT#2027-02-01T00:00:00.000Z#x', { newItem: { remaining: 3 } }),
      change('FACT#consume#k', { newItem: { outcome: { ok: true, balance: 3 } } }),
    ];
    for (const each of cases) expect(eventsOfChange(each, settings).events, each.sk).toEqual([]);
  });

  it('refuses a ledger item it cannot read, naming the field', () => {
    expect(() =>
      eventsOfChange(change(SK, { newItem: entry({ amount: 'many' }) }), settings),
    ).toThrow(`${SK}: amount`);
    expect(() =>
      eventsOfChange(change(SK, { newItem: entry({ amount: 'many' }) }), settings),
    ).toThrow(expect.objectContaining({ name: 'UnexpectedItemError' }));
  });
});
