import type { Lot } from './lots';

/**
 * The shapes of holds (C25) and of credits given back to lots (C25, C26), and how a change made
 * of them moves a customer's state. The rules that decide them are in lib/credits/holds.ts;
 * this module only knows lots, so that lib/credits/state.ts can apply these parts without
 * importing the rules that import it.
 */

/**
 * Credits taken from one lot by a hold or a consumption, with the lot as it was when they were
 * taken: enough to give them back later, even to a lot that has since been drained and deleted.
 */
export type LotPart = { readonly lot: Lot; readonly amount: number };

/** C25: credits kept out of the balance for a job until it is settled, released or lapses. */
export type Hold = {
  /** The caller's hold id: the hold's natural key. */
  readonly id: string;
  readonly amount: number;
  /** Where the credits came from, in burn order (C5); the amounts add up to `amount`. */
  readonly parts: readonly LotPart[];
  readonly heldAtMs: number;
  /** The hold lapses at this time by time alone (C25): its credits count as back in their lots. */
  readonly expiresAtMs: number;
};

/** Credits given back to a lot that still exists (the store adds them, conditioned). */
export type LotReturn = { readonly lot: Lot; readonly amount: number };

/**
 * A hold that ends in the change. `recordsLapse`: the change also writes the fact that says the
 * hold lapsed (a settle or release writes its own fact for the hold it names).
 */
export type HoldEnd = { readonly hold: Hold; readonly recordsLapse: boolean };

/** C26: how much of a consumption (named by its fact's key) has been given back, before and after. */
export type RestoreCount = {
  readonly consumptionKey: string;
  readonly before: number;
  readonly after: number;
};

/** The parts of a StateChange that holds and give-backs add (lib/store/hold-items.ts writes them). */
export type HoldChange = {
  readonly returned: readonly LotReturn[];
  /**
   * Credits given back to a lot whose forfeit record was read (C7): they join that record, so
   * that undoing the forfeit (C8) gives them back with the rest.
   */
  readonly kept: readonly LotReturn[];
  readonly placed: readonly Hold[];
  readonly ended: readonly HoldEnd[];
  readonly restores: readonly RestoreCount[];
};

export const noHoldChange: HoldChange = {
  returned: [],
  kept: [],
  placed: [],
  ended: [],
  restores: [],
};

/** The lots after credits were given back to some of them (or to their forfeit records). */
export function lotsWithReturns(lots: readonly Lot[], change: HoldChange | undefined): Lot[] {
  if (!change || (change.returned.length === 0 && change.kept.length === 0)) return [...lots];
  const back = sumsByLot(change.returned);
  const kept = sumsByLot(change.kept);
  return lots.map((lot) => {
    const amount = back.get(lot.id);
    const withBack = amount === undefined ? lot : { ...lot, remaining: lot.remaining + amount };
    const keeps = kept.get(lot.id);
    if (keeps === undefined || !withBack.forfeit) return withBack;
    return {
      ...withBack,
      forfeit: { ...withBack.forfeit, credits: withBack.forfeit.credits + keeps },
    };
  });
}

function sumsByLot(returns: readonly LotReturn[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const { lot, amount } of returns) sums.set(lot.id, (sums.get(lot.id) ?? 0) + amount);
  return sums;
}

/** The holds after a change: those it ended gone, those it placed added. */
export function holdsAfter(
  holds: readonly Hold[] | undefined,
  change: HoldChange | undefined,
): readonly Hold[] | undefined {
  if (!change) return holds;
  const ended = new Set(change.ended.map((end) => end.hold.id));
  return [...(holds ?? []).filter((hold) => !ended.has(hold.id)), ...change.placed];
}

/** One hold change that does `first` and then `second`. */
export function mergeHoldChanges(
  first: HoldChange | undefined,
  second: HoldChange | undefined,
): HoldChange | undefined {
  if (!first || !second) return first ?? second;
  return {
    returned: [...first.returned, ...second.returned],
    kept: [...first.kept, ...second.kept],
    placed: [...first.placed, ...second.placed],
    ended: [...first.ended, ...second.ended],
    restores: [...first.restores, ...second.restores],
  };
}
