import type { StoreDeps } from '../store/client';
import type { CustomerHistory, SubscriptionHistory } from './customer-history';

/** What ledger operations need: the store, and a clock tests can fix. */
export type LedgerDeps = StoreDeps & {
  /** Milliseconds since the epoch; defaults to Date.now. */
  readonly clock?: () => number;
  /**
   * C10/C16: Stripe's answer to "did the customer purchase before this?", asked before a
   * redemption the stored facts allow; absent, the facts decide alone.
   */
  readonly customerHistory?: CustomerHistory;
  /**
   * C10/C18/C16: Stripe's answer to "is this paid renewal its subscription's first paid
   * invoice?", asked when a renewal with a code arrives before any earlier paid invoice of its
   * subscription; absent, the stored facts guess (a delivered $0 start means first).
   */
  readonly subscriptionHistory?: SubscriptionHistory;
};

export function nowMs(deps: LedgerDeps): number {
  return (deps.clock ?? Date.now)();
}

/** JSON with sorted keys, so that equal commands always produce equal fingerprints. */
export function fingerprint(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}
