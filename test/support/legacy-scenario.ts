import type { LegacyCustomer, LegacyLot } from './legacy-items';

/**
 * A small 0.1.0 table: a subscriber who referred someone, that referee, a customer whose
 * subscription ended, one whose first touch will be a referral-code request, a customer with
 * more lots than one transaction holds, and a crowd of small customers for the paging.
 */
export const LEGACY_NOW = '2026-11-15T00:00:00.000Z';
export const REFERRER_CODE = '7K3M9Q2X4P';
export const SECOND_CODE = 'Z8W4N6R2T0';
export const BIG_LOTS = 120;
export const SMALL_CUSTOMERS = 25;

const DAY_MS = 86_400_000;

function lot(
  id: string,
  source: LegacyLot['source'],
  credits: number,
  grantedAt: string,
  ref: string,
  remaining = credits,
): LegacyLot {
  const expires = new Date(grantedAt);
  expires.setUTCMonth(expires.getUTCMonth() + 3);
  return {
    id,
    source,
    granted: credits,
    remaining,
    grantedAt,
    expiresAt: expires.toISOString(),
    ref,
  };
}

const grantFact = (invoiceId: string, subscriptionId: string, credits: number, start: string) => ({
  key: `grant#${invoiceId}`,
  data: { subscriptionId, lines: [{ lineId: 'il_1', credits, periodStartMs: Date.parse(start) }] },
  outcome: { result: 'granted', credits, balance: credits },
});

/** Subscriber since October, spent 40, referred cus_old_b (+250). Balance 410. */
export const referrer: LegacyCustomer = {
  customerId: 'cus_old_a',
  version: 6,
  lots: [
    lot('in_a1#il_1', 'subscription', 100, '2026-10-01T00:00:00.000Z', 'in_a1', 60),
    lot('in_a2#il_1', 'subscription', 100, '2026-11-01T00:00:00.000Z', 'in_a2'),
    lot('referral#cus_old_b', 'referral_bonus', 250, '2026-11-02T00:00:00.000Z', 'cus_old_b'),
  ],
  activeSubscriptions: { sub_a: '2026-10-01T00:00:00.000Z' },
  firstPaidInvoice: { id: 'in_a1', at: '2026-10-01T00:00:05.000Z' },
  referralCode: REFERRER_CODE,
  entries: [
    { type: 'grant', amount: 100, at: '2026-10-01T00:00:00.000Z', ref: 'in_a1', lots: [] },
    { type: 'consumption', amount: -30, at: '2026-10-05T00:00:00.000Z', ref: 'img-1', lots: [] },
    { type: 'consumption', amount: -10, at: '2026-10-06T00:00:00.000Z', ref: 'img-2', lots: [] },
    { type: 'grant', amount: 100, at: '2026-11-01T00:00:00.000Z', ref: 'in_a2', lots: [] },
    {
      type: 'referral_bonus',
      amount: 250,
      at: '2026-11-02T00:00:00.000Z',
      ref: 'in_b1',
      reason: 'referred cus_old_b',
      lots: [],
    },
  ],
  facts: [
    grantFact('in_a1', 'sub_a', 100, '2026-10-01T00:00:00.000Z'),
    grantFact('in_a2', 'sub_a', 100, '2026-11-01T00:00:00.000Z'),
    { key: 'consume#img-1', data: { amount: 30 }, outcome: { ok: true, balance: 70 } },
    { key: 'consume#img-2', data: { amount: 10 }, outcome: { ok: true, balance: 60 } },
  ],
};

/** Redeemed cus_old_a's code on a 500-credit first invoice: 500 + 250. */
export const referee: LegacyCustomer = {
  customerId: 'cus_old_b',
  version: 2,
  lots: [
    lot('in_b1#il_1', 'subscription', 500, '2026-11-02T00:00:00.000Z', 'in_b1'),
    lot('referral#in_b1', 'referral_bonus', 250, '2026-11-02T00:00:00.000Z', 'in_b1'),
  ],
  activeSubscriptions: { sub_b: '2026-11-02T00:00:00.000Z' },
  firstPaidInvoice: { id: 'in_b1', at: '2026-11-02T00:00:05.000Z' },
  redemption: { code: REFERRER_CODE, referrerId: 'cus_old_a', invoiceId: 'in_b1' },
  entries: [
    { type: 'grant', amount: 500, at: '2026-11-02T00:00:00.000Z', ref: 'in_b1', lots: [] },
    {
      type: 'referral_bonus',
      amount: 250,
      at: '2026-11-02T00:00:00.000Z',
      ref: 'in_b1',
      reason: 'redeemed referral code of cus_old_a',
      lots: [],
    },
  ],
  facts: [
    grantFact('in_b1', 'sub_b', 500, '2026-11-02T00:00:00.000Z'),
    {
      key: 'referral',
      data: { invoiceId: 'in_b1', code: REFERRER_CODE },
      outcome: { result: 'redeemed', referrerId: 'cus_old_a', bonus: 250, referrerBonus: 250 },
    },
  ],
};

/** Subscribed in September, cancelled on 20 Oct: everything forfeited, nothing left. */
export const cancelled: LegacyCustomer = {
  customerId: 'cus_old_c',
  version: 3,
  lots: [],
  // 0.1.0 took a subscription out of `activeSubscriptions` when it ended: only its end is left.
  activeSubscriptions: {},
  endedSubscriptions: { sub_c: '2026-10-20T00:00:00.000Z' },
  firstPaidInvoice: { id: 'in_c1', at: '2026-09-01T00:00:05.000Z' },
  entries: [
    { type: 'grant', amount: 100, at: '2026-09-01T00:00:00.000Z', ref: 'in_c1', lots: [] },
    { type: 'forfeit', amount: -100, at: '2026-10-20T00:00:00.000Z', ref: 'sub_c', lots: [] },
  ],
  facts: [grantFact('in_c1', 'sub_c', 100, '2026-09-01T00:00:00.000Z')],
};

/** Has a code and 50 credits; nothing but a referral-code request touches it first. */
export const codeHolder: LegacyCustomer = {
  customerId: 'cus_old_d',
  version: 2,
  lots: [lot('adjust#d1', 'adjustment', 50, '2026-11-01T00:00:00.000Z', 'd1')],
  referralCode: SECOND_CODE,
  entries: [
    { type: 'adjustment', amount: 50, at: '2026-11-01T00:00:00.000Z', ref: 'd1', lots: [] },
  ],
};

/** BIG_LOTS lots of 1 credit, granted a day apart: converted in several transactions. */
export const bigCustomer: LegacyCustomer = {
  customerId: 'cus_old_big',
  version: BIG_LOTS,
  lots: Array.from({ length: BIG_LOTS }, (_, index) =>
    lot(
      `adjust#big${index}`,
      'adjustment',
      1,
      new Date(Date.parse(LEGACY_NOW) - (index + 1) * (DAY_MS / 2)).toISOString(),
      `big${index}`,
    ),
  ),
  entries: Array.from({ length: BIG_LOTS }, (_, index) => ({
    type: 'adjustment',
    amount: 1,
    at: new Date(Date.parse(LEGACY_NOW) - (index + 1) * (DAY_MS / 2)).toISOString(),
    ref: `big${index}`,
    lots: [],
  })),
};

export const smallCustomers: LegacyCustomer[] = Array.from(
  { length: SMALL_CUSTOMERS },
  (_, index) => ({
    customerId: `cus_old_s${String(index).padStart(2, '0')}`,
    version: 1,
    lots: [
      lot(`in_s${index}#il_1`, 'subscription', 10, '2026-11-01T00:00:00.000Z', `in_s${index}`),
    ],
    activeSubscriptions: { [`sub_s${index}`]: '2026-11-01T00:00:00.000Z' },
    firstPaidInvoice: { id: `in_s${index}`, at: '2026-11-01T00:00:05.000Z' },
    entries: [
      { type: 'grant', amount: 10, at: '2026-11-01T00:00:00.000Z', ref: `in_s${index}`, lots: [] },
    ],
    facts: [grantFact(`in_s${index}`, `sub_s${index}`, 10, '2026-11-01T00:00:00.000Z')],
  }),
);

export const allLegacyCustomers = [
  referrer,
  referee,
  cancelled,
  codeHolder,
  bigCustomer,
  ...smallCustomers,
];
