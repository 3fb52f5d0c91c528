import { cuts, inOrderUpTo, isTopUp } from './changes';
import type { CutLot, DowngradeRecord } from './downgrades';
import { isExpiredAt, type Lot } from './lots';
import type { RefundedBy } from './refunded-months';
import type { SubscriptionFacts } from './state';
import { lotExpiresAtMs } from './time';

/**
 * C19 as a pure function of the facts (C16), as forfeits are (forfeits.ts): what each lot of a
 * subscription should hold once its downgrades have cut it in Stripe's order, whatever order
 * they and the purchases they cut were delivered in. Every run starts from what the lots hold
 * before the cuts the downgrades' records say they made (`cuts`), lets each downgrade in
 * Stripe's order (billing time, then change time) cut latest first what `cuts` (changes.ts)
 * lets it, and says which lots now hold other than the plan wants.
 *
 * A lot not expired moves freely: cut more (from what it has left, C1), or given back a cut
 * that Stripe's order puts elsewhere. An expired or forfeited lot (C6, C7) keeps the cuts
 * recorded on it.
 * What the subscription's end cancelled after it (`endCuts`) is there to be cut, by nobody's
 * write: the end took it anyway.
 */

/** One place a downgrade can cut: a lot, a lot being granted, one cut to nothing, an end's cut. */
export type Slot = {
  readonly id: string;
  readonly grantedAtMs: number;
  readonly expiresAtMs: number;
  readonly purchasedAtMs?: number;
  readonly topUp: boolean;
  readonly kind: 'lot' | 'arriving' | 'zeroed' | 'ended';
  readonly lot?: Lot;
  /** Cuts recorded on it move with the plan; else they stay (expired, forfeited, spent). */
  readonly flexible: boolean;
  /** What it holds before the cuts the plan decides (what reversals took of it included). */
  readonly base: number;
  /**
   * C22: what reversals took of it, in its base (refunded-months.ts): a downgrade Stripe billed
   * before a reversal cuts it first, the reversal taking it again elsewhere.
   */
  readonly refunds: readonly RefundedBy[];
};

/** What reversals took of the slot, those after `afterMs` only when given. */
export function refundedIn(slot: Slot, afterMs = Number.NEGATIVE_INFINITY): number {
  return sumOf(slot.refunds.filter((each) => each.atMs > afterMs).map((each) => each.credits));
}

export type CutPlan = {
  readonly slots: readonly Slot[];
  /** What each slot holds after the plan's cuts. */
  readonly targets: ReadonlyMap<string, number>;
  /** The downgrades' cuts by lot (downgrade id -> credits), ended slots left out. */
  readonly byLot: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** The downgrade that cut more of a granted lot first (the date of its entry). */
  readonly cutBy: ReadonlyMap<string, DowngradeRecord>;
  readonly records: readonly (readonly [string, DowngradeRecord])[];
};

/** The downgrades in Stripe's order: by billing time, then by the time of the change. */
export function inStripeOrder(
  downgrades: Readonly<Record<string, DowngradeRecord>>,
): [string, DowngradeRecord][] {
  return Object.entries(downgrades).sort(
    ([a, one], [b, other]) =>
      one.billedAtMs - other.billedAtMs || one.atMs - other.atMs || (a < b ? -1 : a > b ? 1 : 0),
  );
}

type CutsByLot = Map<string, Map<string, number>>;

/** Counts `credits` cut from lot `lotId` by downgrade `id`. */
function addCut(byLot: CutsByLot, lotId: string, id: string, credits: number): void {
  const cutsOfLot = byLot.get(lotId) ?? new Map<string, number>();
  cutsOfLot.set(id, (cutsOfLot.get(id) ?? 0) + credits);
  byLot.set(lotId, cutsOfLot);
}

/** What the records say was cut from each lot, by lot id. */
function recordedCuts(records: readonly (readonly [string, DowngradeRecord])[]): CutsByLot {
  const byLot: CutsByLot = new Map();
  for (const [id, record] of records) {
    for (const [lotId, credits] of Object.entries(record.cuts ?? {})) {
      addCut(byLot, lotId, id, credits);
    }
  }
  return byLot;
}

const sumOf = (values: Iterable<number>) => [...values].reduce((sum, each) => sum + each, 0);
const creditsOf = (each: RefundedBy) => each.credits;

function slotsOf(
  lots: readonly Lot[],
  arriving: readonly Lot[],
  facts: SubscriptionFacts,
  recorded: ReadonlyMap<string, ReadonlyMap<string, number>>,
  nowMs: number,
): Slot[] {
  const cutOf = (id: string) => sumOf(recorded.get(id)?.values() ?? []);
  const refunded = (id: string) => Object.values(facts.refunded?.[id]?.by ?? {});
  const endedAtMs = facts.endedAtMs;
  const afterEnd = (grantedAtMs: number) => endedAtMs !== undefined && grantedAtMs > endedAtMs;
  const fields = (lot: Lot) => ({
    id: lot.id,
    grantedAtMs: lot.grantedAtMs,
    expiresAtMs: lot.expiresAtMs,
    ...(lot.purchasedAtMs !== undefined && { purchasedAtMs: lot.purchasedAtMs }),
    topUp: isTopUp(lot),
    lot,
  });
  const known = new Set([...lots, ...arriving].map((lot) => lot.id));
  const real = lots.map((lot): Slot => {
    const flexible = !lot.forfeit && !isExpiredAt(lot, nowMs);
    const refunds = flexible ? refunded(lot.id) : [];
    const base = lot.remaining + (flexible ? cutOf(lot.id) + sumOf(refunds.map(creditsOf)) : 0);
    return { ...fields(lot), kind: 'lot', flexible, base, refunds };
  });
  // An arriving month a reversal's debt took before a later downgrade (repaidBeforeCuts in
  // cuts-after.ts) counts that take as a reversal's: what it holds is its base less the take.
  const coming = arriving.map((lot): Slot => {
    const kind = afterEnd(lot.grantedAtMs) ? 'ended' : 'arriving';
    return {
      ...fields(lot),
      kind,
      flexible: true,
      base: lot.granted,
      refunds: kind === 'arriving' ? refunded(lot.id) : [],
    };
  });
  // Months gone, cut to nothing or taken by a reversal, that a moved cut can give back.
  const gone: [string, CutLot][] = [
    ...Object.entries(facts.cutLots ?? {}),
    ...Object.entries(facts.refunded ?? {}).filter(([id]) => !facts.cutLots?.[id]),
  ];
  const zeroed = gone
    .filter(([id]) => !known.has(id))
    .map(([id, meta]): Slot => {
      const kind = afterEnd(meta.grantedAtMs) ? 'ended' : 'zeroed';
      const flexible = lotExpiresAtMs(meta.grantedAtMs) > nowMs;
      const refunds = flexible && kind === 'zeroed' ? refunded(id) : [];
      return {
        ...cutLotFields(id, meta),
        kind,
        flexible,
        base: flexible ? cutOf(id) + sumOf(refunds.map(creditsOf)) : 0,
        refunds,
      };
    });
  const ended = (facts.endCuts ?? []).map(
    (cut, index): Slot => ({
      id: `end#${String(index).padStart(6, '0')}`,
      grantedAtMs: cut.grantedAtMs,
      expiresAtMs: lotExpiresAtMs(cut.grantedAtMs),
      ...(cut.purchasedAtMs !== undefined && { purchasedAtMs: cut.purchasedAtMs }),
      topUp: cut.topUp === true,
      kind: 'ended',
      flexible: true,
      base: cut.credits,
      refunds: [],
    }),
  );
  return [...real, ...coming, ...zeroed, ...ended];
}

function cutLotFields(id: string, meta: CutLot) {
  return {
    id,
    grantedAtMs: meta.grantedAtMs,
    expiresAtMs: lotExpiresAtMs(meta.grantedAtMs),
    ...(meta.purchasedAtMs !== undefined && { purchasedAtMs: meta.purchasedAtMs }),
    topUp: meta.topUp === true,
  };
}

/** Latest first: the reverse of the burn order (C5), as a downgrade cuts (C19). */
function latestSlotFirst(a: Slot, b: Slot): number {
  return (
    b.expiresAtMs - a.expiresAtMs ||
    b.grantedAtMs - a.grantedAtMs ||
    (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
  );
}

/**
 * C19/C16: the plan for one subscription: `lots` its lots as stored, `arriving` the lots of an
 * invoice being granted (not stored yet, before any cut), `facts` its facts with every
 * downgrade recorded (the one being delivered too).
 */
export function planCuts(
  lots: readonly Lot[],
  arriving: readonly Lot[],
  facts: SubscriptionFacts,
  nowMs: number,
): CutPlan {
  const records = inStripeOrder(facts.downgrades ?? {});
  const recorded = recordedCuts(records);
  const slots = slotsOf(lots, arriving, facts, recorded, nowMs);
  const flexible = new Set(slots.filter((slot) => slot.flexible).map((slot) => slot.id));
  const left = new Map(slots.map((slot) => [slot.id, slot.base]));
  const byLot: CutsByLot = new Map();
  const cutBy = new Map<string, DowngradeRecord>();
  const add = (lotId: string, id: string, credits: number) => addCut(byLot, lotId, id, credits);
  // Cuts that stay where they are (a granted lot, or one gone): their downgrade made them.
  for (const [lotId, cutsOfLot] of recorded) {
    if (flexible.has(lotId)) continue;
    for (const [id, credits] of cutsOfLot) add(lotId, id, credits);
  }
  const ordered = [...slots].sort(latestSlotFirst);
  for (const [id, record] of records) {
    const stays = sumOf([...byLot.values()].map((cutsOfLot) => cutsOfLot.get(id) ?? 0));
    const reach = ordered.filter((slot) => cuts(record, slot));
    // C22: what a reversal took before Stripe billed the downgrade (or in its second, which
    // nothing orders: the reversal counts as first) is gone for it; what one took after, the
    // downgrade cut first (Stripe's order).
    const cuttable = (slot: Slot) =>
      Math.max(
        0,
        (left.get(slot.id) ?? 0) - (refundedIn(slot) - refundedIn(slot, record.billedAtMs)),
      );
    const taken = inOrderUpTo(reach, record.credits - stays, cuttable);
    for (const { item: slot, amount } of taken) {
      left.set(slot.id, (left.get(slot.id) ?? 0) - amount);
      if (slot.kind === 'ended') continue;
      add(slot.id, id, amount);
      if (!slot.flexible && !cutBy.has(slot.id)) cutBy.set(slot.id, record);
    }
  }
  return { slots, targets: left, byLot, cutBy, records };
}
