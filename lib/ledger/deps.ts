import type { StoreDeps } from '../store/client';

/** What ledger operations need: the store, and a clock tests can fix. */
export type LedgerDeps = StoreDeps & {
  /** Milliseconds since the epoch; defaults to Date.now. */
  readonly clock?: () => number;
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
