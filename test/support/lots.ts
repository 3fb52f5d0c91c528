import { type Lot, newLot } from '../../lib/credits/lots';

export const ms = (iso: string) => Date.parse(iso);

/** A subscription lot granted at `grantedAt` with `remaining` of `granted` credits left. */
export function lot(id: string, grantedAt: string, granted: number, remaining = granted): Lot {
  const fresh = newLot({
    id,
    source: 'subscription',
    credits: granted,
    grantedAtMs: ms(grantedAt),
    ref: `in_${id}`,
  });
  return { ...fresh, remaining };
}
