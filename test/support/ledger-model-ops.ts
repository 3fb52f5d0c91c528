import fc from 'fast-check';
import type { ModelGrant } from './model';

/**
 * The operations of the ledger's model-based test (test/property/ledger-model.test.ts): what
 * fast-check generates, and the history of requests that replays repeat.
 */
export const MAX_STEPS = 25;
export const HOUR_MS = 3_600_000;

/** `of` picks an earlier operation of the same kind (modulo how many there were). */
export type Replay = { of: number; altered: boolean };

export type Op =
  | {
      kind: 'grant';
      customer: number;
      subscription: number;
      credits: number[];
      startHoursAgo: number;
      replay?: Replay;
    }
  | { kind: 'consume'; customer: number; amount: number; retry?: Replay }
  | { kind: 'adjust'; customer: number; amount: number; retry?: Replay }
  | { kind: 'expire'; customer: number }
  | { kind: 'end'; customer: number; subscription: number; endedHoursAgo: number; replay?: Replay }
  | { kind: 'advance'; hours: number }
  /** Moves the clock exactly onto the next expiry of one of the customer's lots or holds. */
  | { kind: 'advanceToExpiry'; customer: number }
  /**
   * C25: a new hold of a share of the customer's balance (more than all: refused), or a retry
   * of an earlier reserve.
   */
  | { kind: 'reserve'; customer: number; share: Share; ttlSeconds: number; retry?: Replay }
  /** C25: settles a hold made `of` holds ago, consuming a share of it (more than all: refused). */
  | { kind: 'settle'; of: number; share: Share }
  | { kind: 'release'; of: number }
  /** C26: gives back (part of) an earlier consume or settled hold, or retries a restore. */
  | { kind: 'restore'; of: number; amount?: number; retry?: Replay };

/** How much of a balance or a hold: none, a tenth, half, all, or one more than there is. */
export type Share = 0 | 0.1 | 0.5 | 1 | 'more';

export function shareOf(total: number, share: Share): number {
  return share === 'more' ? total + 1 : Math.floor(total * share);
}

/** Mostly the latest (0), else any of the last 20. */
const recent = fc.oneof(fc.constant(0), fc.nat({ max: 20 }));

const customer = fc.nat({ max: 2 });
/** A quarter of requests repeat an earlier one (a third of those with altered data). */
const replay: fc.Arbitrary<Replay | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.record({
      of: fc.nat({ max: 20 }),
      altered: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, fc.constant(true)),
    }),
  },
);
/** Now, whole days ago (equal times of day: C4 ties like 30 and 31 Jan -> 30 Apr), or hours. */
const hoursAgo = fc.oneof(fc.constant(0), fc.constantFrom(24, 48, 72), fc.nat({ max: 72 }));

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  ...holdOps(),
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('grant' as const),
      customer,
      subscription: fc.nat({ max: 2 }),
      credits: fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 2 }),
      startHoursAgo: hoursAgo,
      replay,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('consume' as const),
      customer,
      amount: fc.integer({ min: 1, max: 300 }),
      retry: replay,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('adjust' as const),
      customer,
      amount: fc.integer({ min: -150, max: 150 }).filter((amount) => amount !== 0),
      retry: replay,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('expire' as const), customer }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('end' as const),
      customer,
      subscription: fc.nat({ max: 2 }),
      endedHoursAgo: hoursAgo,
      replay,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advanceToExpiry' as const), customer }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      // Hours, days, or months.
      hours: fc.oneof(
        fc.integer({ min: 1, max: 23 }),
        fc.integer({ min: 24, max: 24 * 20 }),
        fc.integer({ min: 24 * 25, max: 24 * 100 }),
      ),
    }),
  },
);

/** Where the clock starts: often at a month's end, where C4's clamping shows; else anywhere. */
const startMs = fc.oneof(
  fc
    .constantFrom(
      '2026-01-31T10:00:00Z', // 30 and 31 Jan both expire 30 Apr
      '2027-11-30T08:00:00Z', // -> 29 Feb 2028 (leap year)
      '2026-11-30T08:00:00Z', // -> 28 Feb 2027
      '2026-05-31T23:00:00Z', // -> 31 Aug
      '2026-03-31T12:00:00Z', // -> 30 Jun
      '2026-12-31T00:00:00Z', // -> 31 Mar next year
    )
    .map((iso) => Date.parse(iso)),
  fc
    .integer({ min: 0, max: 3 * 365 * 24 })
    .map((hours) => Date.parse('2026-01-01T00:00:00Z') + hours * HOUR_MS),
);

export const scenario = fc.record({
  startMs,
  // One customer half the time, so that its operations interact more.
  customers: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 3 })),
  // size 'max': lengths spread over 1..MAX_STEPS (fast-check's default stops near 12). Half
  // the runs start with a grant, so that holds and restores have credits to work with.
  ops: fc
    .tuple(
      fc.oneof(fc.constant([]), fc.tuple(openingGrant())),
      fc.array(opArbitrary, { minLength: 1, maxLength: MAX_STEPS - 1, size: 'max' }),
    )
    .map(([opening, rest]): Op[] => [...opening, ...rest]),
});

function openingGrant(): fc.Arbitrary<Op> {
  return fc.record({
    kind: fc.constant('grant' as const),
    customer,
    subscription: fc.nat({ max: 2 }),
    credits: fc.array(fc.integer({ min: 50, max: 500 }), { minLength: 1, maxLength: 2 }),
    startHoursAgo: hoursAgo,
  });
}

/** The requests a run has made so far, so that replays can repeat (or alter) them. */
export type History = {
  grants: { customerId: string; grant: ModelGrant }[];
  consumes: { customerId: string; amount: number; key: string }[];
  adjusts: { customerId: string; amount: number; reason: string; key: string; atMs: number }[];
  ends: { customerId: string; subscriptionId: string; endedAtMs: number }[];
  holds: { customerId: string; holdId: string; amount: number; ttlSeconds: number }[];
  /** Consumptions a restore may name: a consume's key, or a (possibly) settled hold's id. */
  consumptions: { customerId: string; of: { key: string } | { holdId: string } }[];
  restores: {
    customerId: string;
    of: { key: string } | { holdId: string };
    restoreKey: string;
    amount?: number;
  }[];
};

export function emptyHistory(): History {
  return {
    grants: [],
    consumes: [],
    adjusts: [],
    ends: [],
    holds: [],
    consumptions: [],
    restores: [],
  };
}

export function pick<T>(list: readonly T[], replayOf: Replay | undefined): T | undefined {
  return replayOf && list.length > 0 ? list[replayOf.of % list.length] : undefined;
}

/** Hold operations (C25, C26), about as often together as spends. */
function holdOps() {
  return [
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('reserve' as const),
        customer,
        share: fc.constantFrom<Share>(0.1, 0.5, 0.5, 1, 'more'),
        // The floor (lapses within the next clock move), the default, an hour, a day.
        ttlSeconds: fc.constantFrom(120, 900, 3_600, 86_400),
        retry: replay,
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('settle' as const),
        of: recent,
        share: fc.constantFrom<Share>(0, 0.5, 1, 1, 'more'),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('release' as const), of: recent }),
    },
    {
      weight: 3,
      arbitrary: fc.record(
        {
          kind: fc.constant('restore' as const),
          of: recent,
          amount: fc.integer({ min: 1, max: 40 }),
          retry: replay,
        },
        { requiredKeys: ['kind', 'of'] },
      ),
    },
  ] as const;
}
