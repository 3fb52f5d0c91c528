import type { StateChange } from './state';

/**
 * An upper bound on the transaction items `change` writes besides the account, its
 * subscriptions, the purchase records and the command's fact: one per entry and per lot it
 * touches, two per lot that carries a due marker too (one released, created upcoming, or
 * cancelled while upcoming; C20). A decision that must fit beside another change in one
 * transaction gives itself what this leaves.
 */
export function itemsAtMost(change: StateChange | undefined): number {
  if (!change) return 0;
  const createdUpcoming = change.created.filter((lot) => lot.upcoming).length;
  const cancelledUpcoming = change.cancelled.filter(({ lot }) => lot.upcoming).length;
  return (
    change.entries.length +
    change.created.length +
    createdUpcoming +
    change.taken.length +
    change.forfeited.length +
    change.unforfeited.length +
    2 * change.released.length +
    change.cancelled.length +
    cancelledUpcoming +
    change.reclaimed.length
  );
}
