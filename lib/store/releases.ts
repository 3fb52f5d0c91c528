import { releasesInBatches } from '../credits/changes';
import type { CustomerState, StateChange } from '../credits/state';
import type { Budget } from './call';
import type { StoreDeps } from './client';
import { changeItems, MAX_TRANSACTION_ITEMS, type TransactItem, transact } from './transact';

/**
 * C20: the months of a longer period come due are recorded by the next write of the customer,
 * in its transaction: three items each (the lot, its due marker, its entry). A customer nobody
 * wrote for months may have more come due than fit beside the write (several annual plans, a
 * year without a write): then the write records them first, in transactions of their own,
 * oldest first (releasesInBatches), and is decided again on what they left. Each release is
 * conditioned on its lot still upcoming with the credit read, so a retry or a concurrent
 * writer that recorded it first makes the batch fail instead of recording a month twice; and
 * each batch is a whole change (lots and entries together), so the ledger explains the lots
 * after every one of them (C14). A write that fits is written as it is: the common case costs
 * no extra call.
 */
export function mustReleaseFirst(
  items: readonly TransactItem[],
  changes: readonly StateChange[],
): boolean {
  return (
    items.length > MAX_TRANSACTION_ITEMS && changes.some((change) => change.released.length > 0)
  );
}

/**
 * Writes the releases of `changes` on their own, batch after batch, until one loses to a
 * concurrent writer; the caller reads and decides again either way. False when there was
 * nothing to write (then the write is too large for another reason, and fails as such).
 */
export async function writeReleasesFirst(
  deps: StoreDeps,
  states: ReadonlyMap<string, CustomerState>,
  changes: readonly StateChange[],
  budget: Budget,
): Promise<boolean> {
  let tried = false;
  for (const change of changes) {
    const read = states.get(change.customerId);
    if (!read || change.released.length === 0) continue;
    // The lots as read: each release is conditioned on the credit the decision saw.
    const releasedIds = new Set(change.released.map((lot) => lot.id));
    const due = read.lots.filter((lot) => releasedIds.has(lot.id) && lot.upcoming);
    // A release moves neither the facts nor the lot set: the account's counters stay as read.
    for (const batch of releasesInBatches(read, due)) {
      tried = true;
      const written = await transact(deps, changeItems(deps, read, batch), budget);
      if (written.kind !== 'written') return true;
    }
  }
  return tried;
}
