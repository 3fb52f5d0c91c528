/**
 * The name a mistyped one most likely meant: one a few edits away (ignoring case and dashes),
 * or one containing what was typed ("webhook" for stripeWebhook); none when nothing is close,
 * so that a suggestion is never a wild guess.
 */
export function nearestName<Name extends string>(
  typed: string,
  names: readonly Name[],
): Name | undefined {
  const wanted = comparable(typed);
  if (wanted.length < 3) return undefined;
  let best: { name: Name; distance: number } | undefined;
  for (const name of names) {
    const candidate = comparable(name);
    const distance = candidate.includes(wanted) ? 0 : editDistance(wanted, candidate);
    if (!best || distance < best.distance) best = { name, distance };
  }
  const allowed = Math.max(2, Math.floor(wanted.length / 3));
  return best && best.distance <= allowed ? best.name : undefined;
}

function comparable(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '');
}

/** Levenshtein distance: insertions, deletions and substitutions, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(
        substitution,
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
