import { endCutsAfter, withDowngradeFacts } from './downgrades';
import { bookBalance, forfeitableAt, isExpiredAt, type Lot, LotSource } from './lots';
import {
  type CustomerFacts,
  type CustomerState,
  changeOf,
  type EntryDraft,
  EntryType,
  type StateChange,
  type SubscriptionFacts,
} from './state';

/**
 * C7/C8 as amended: credits roll over as long as the customer keeps a subscription. An end
 * forfeits only when it leaves the customer with no active subscription; then every remaining
 * credit granted up to that moment goes. The rules are kept as pure functions of the facts, so
 * that they give the same answer whatever order Stripe delivered the events in (C16):
 * - a grant that arrives after an end it predates arrives forfeited (forfeitedOnArrival);
 * - a forfeit that a later grant shows was wrong (another subscription was active at the end)
 *   is undone, giving back what has not expired (reconcileForfeits);
 * - a lot an end takes counts as forfeited even before the forfeit is written (effectiveLots).
 */

/**
 * Whether a subscription was active at `atMs`: a paid invoice granted a period starting at or
 * before then, and it had not ended by then. One that never had a paid invoice never was.
 */
export function activeAt(facts: SubscriptionFacts, atMs: number): boolean {
  const started = facts.activeSinceMs !== undefined && facts.activeSinceMs <= atMs;
  return started && (facts.endedAtMs === undefined || facts.endedAtMs > atMs);
}

export type ForfeitingEnd = { readonly subscriptionId: string; readonly endedAtMs: number };

/**
 * The recorded ends that left the customer with no other active subscription, earliest first.
 * Only the end of a subscription that was active itself counts: C7 forfeits when the *last
 * active* subscription ends, and one never paid for was never active. Without that, a never
 * paid subscription ending in the same second as the paid one would be a second forfeiting end
 * at that instant, and which of the two took the credit would follow the order the facts were
 * stored in. Ends in one second that both forfeit are ordered by subscription id, for the same
 * reason.
 */
export function forfeitingEnds(facts: CustomerFacts): ForfeitingEnd[] {
  const subscriptions = Object.entries(facts.subscriptions);
  return subscriptions
    .flatMap(([id, own]) => {
      const endedAtMs = own.endedAtMs;
      if (endedAtMs === undefined || !wasActiveUntil(own, endedAtMs)) return [];
      const another = subscriptions.some(
        ([otherId, other]) => otherId !== id && activeAt(other, endedAtMs),
      );
      return another ? [] : [{ subscriptionId: id, endedAtMs }];
    })
    .sort(
      (a, b) =>
        a.endedAtMs - b.endedAtMs ||
        (a.subscriptionId < b.subscriptionId ? -1 : a.subscriptionId > b.subscriptionId ? 1 : 0),
    );
}

/** Whether a subscription had a paid period started by the moment it ended. */
function wasActiveUntil(facts: SubscriptionFacts, endedAtMs: number): boolean {
  return facts.activeSinceMs !== undefined && facts.activeSinceMs <= endedAtMs;
}

/**
 * The end that takes `lot`'s credit: the earliest forfeiting end covering it (forfeitableAt).
 * An upcoming lot (C20) counts once its grant time has come by `nowMs`, as it does for spends.
 */
function endTaking(
  lot: Lot,
  ends: readonly ForfeitingEnd[],
  nowMs: number,
): ForfeitingEnd | undefined {
  // C7: a pack bought outright never depended on a subscription, so no end takes it.
  if (lot.forfeit || lot.remaining <= 0 || lot.source === LotSource.pack) return undefined;
  if (lot.upcoming && lot.grantedAtMs > nowMs) return undefined;
  return ends.find((end) => forfeitableAt([lot], end.endedAtMs).length > 0);
}

/**
 * One forfeit entry per end that takes some of `lots` (which must all be in the ledger, not
 * upcoming), each dated at its end.
 */
export function forfeitsByEnd(facts: CustomerFacts, lots: readonly Lot[], entryId: string) {
  const ends = forfeitingEnds(facts);
  const byEnd = new Map<string, { endedAtMs: number; lots: Lot[] }>();
  for (const lot of lots) {
    const end = lot.upcoming ? undefined : endTaking(lot, ends, Number.POSITIVE_INFINITY);
    if (!end) continue;
    const group = byEnd.get(end.subscriptionId) ?? { endedAtMs: end.endedAtMs, lots: [] };
    group.lots.push(lot);
    byEnd.set(end.subscriptionId, group);
  }
  return [...byEnd].map(([subscriptionId, group]) => ({
    by: subscriptionId,
    lots: group.lots,
    draft: {
      id: `${entryId}#forfeit#${subscriptionId}`,
      type: EntryType.forfeit,
      amount: -bookBalance(group.lots),
      atMs: group.endedAtMs,
      ref: subscriptionId,
      lots: group.lots.map((lot) => ({ lotId: lot.id, amount: lot.remaining })),
    } satisfies EntryDraft,
  }));
}

/**
 * The lots as the rules see them: a lot that a forfeiting end takes counts as forfeited even
 * when no forfeit was written for it (a referrer's quiet bonus racing the referrer's end,
 * lib/credits/referral.ts). Like an expired lot (C6), such a lot is never spent nor counted,
 * and the next write that touches the customer's account records its forfeit
 * (reconcileForfeits). A forfeit that is no longer right is given back only when written:
 * every command that changes the facts reconciles in the same transaction, so that state
 * lasts only as long as a quiet write racing a change of the referrer's facts.
 */
export function effectiveLots(state: CustomerState, nowMs: number): Lot[] {
  const ends = forfeitingEnds(state.facts);
  return state.lots.map((lot) => {
    const end = endTaking(lot, ends, nowMs);
    if (!end) return lot;
    return { ...lot, remaining: 0, forfeit: { by: end.subscriptionId, credits: lot.remaining } };
  });
}

/** `lot` with its forfeit given back, as the rules would see it without that forfeit. */
function unforfeitedLot({ forfeit, ...lot }: Lot): Lot {
  return { ...lot, remaining: forfeit?.credits ?? lot.remaining };
}

/** How many lots one reconciliation changes per transaction (100 items at most). */
export const MAX_LOTS_PER_FORFEIT = 40;

/**
 * The lots made to agree with the facts: what the forfeiting ends take is forfeited (each group
 * dated at its end), and records of forfeits no longer right (C8: another subscription was
 * active at that end) get their credit back unless expired by `nowMs`. At most
 * MAX_LOTS_PER_FORFEIT lots per change; `more` says another must follow.
 */
export function reconcileForfeits(
  state: CustomerState,
  nowMs: number,
): { change?: StateChange; more: boolean } {
  const ends = forfeitingEnds(state.facts);
  const still = new Set(ends.map((end) => end.subscriptionId));
  // A forfeit whose end no longer forfeits stays when another end that does forfeit takes the
  // lot all the same (the last subscription ended later): giving it back only to forfeit it
  // again would be two writes of one item, and the balance would read the same.
  const wrong = state.lots.filter(
    (lot) =>
      lot.forfeit &&
      !still.has(lot.forfeit.by) &&
      !isExpiredAt(lot, nowMs) &&
      !endTaking(unforfeitedLot(lot), ends, nowMs),
  );
  const restored = wrong.slice(0, MAX_LOTS_PER_FORFEIT);
  // Upcoming lots come due first (releaseDue runs before, lib/credits/changes.ts settleByTime).
  const candidates = state.lots.filter((lot) => !lot.forfeit && lot.remaining > 0 && !lot.upcoming);
  const pendingAll = forfeitsByEnd(state.facts, candidates, 'forfeit');
  const pendingLots = pendingAll.flatMap(({ lots }) => lots);
  const room = MAX_LOTS_PER_FORFEIT - restored.length;
  const takenIds = new Set(pendingLots.slice(0, room).map((lot) => lot.id));
  const pending = forfeitsByEnd(
    state.facts,
    candidates.filter((lot) => takenIds.has(lot.id)),
    'forfeit',
  );
  const more = wrong.length > restored.length || pendingLots.length > takenIds.size;
  if (pending.length === 0 && restored.length === 0) return { more };
  const undone: EntryDraft[] = restored.map((lot) => ({
    id: `unforfeit#${lot.id}#${lot.forfeit?.by}`,
    type: EntryType.forfeit,
    amount: lot.forfeit?.credits ?? 0,
    atMs: nowMs,
    ref: lot.forfeit?.by ?? '',
    reason: 'forfeit undone: another subscription was active when it ended (C8)',
    lots: [{ lotId: lot.id, amount: lot.forfeit?.credits ?? 0 }],
  }));
  const change = changeOf(state, {
    forfeited: pending.flatMap(({ by, lots }) => lots.map((lot) => ({ lot, by }))),
    unforfeited: restored,
    drafts: [
      ...pending.map(({ draft, lots }) => ({
        ...draft,
        id: `forfeit#${draft.ref}#${lots[0]?.id}`,
      })),
      ...undone,
    ],
  });
  return { change, more };
}

/**
 * How many lots one end cancels per transaction. Each is two items (the lot and its due marker,
 * or its entry), and the end's last transaction also holds the forfeits it causes
 * (MAX_LOTS_PER_FORFEIT lots, and their entries): 25 leaves room in DynamoDB's 100. An annual
 * subscription of a dozen prices has more than 120 months to come.
 */
export const MAX_LOTS_PER_END = 25;

/** C7: the subscription's lots with credit that its end cancels: granted after it, oldest first. */
export function lotsAfterEnd(
  state: CustomerState,
  subscription: { id: string; endedAtMs: number },
): Lot[] {
  return state.lots
    .filter(
      (lot) =>
        lot.subscriptionId === subscription.id &&
        lot.grantedAtMs > subscription.endedAtMs &&
        lot.remaining > 0,
    )
    .sort((a, b) => a.grantedAtMs - b.grantedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * C7/C8: a subscription ended at `endedAtMs` is remembered as ended, so that it never grants
 * again, and its lots not yet granted then (C20) are cancelled in every case, at most `maxLots`
 * of them (the end runs again for the rest: being recorded, it cancels only what is left).
 * Whether the end forfeits anything follows from the facts it leaves (reconcileForfeits, run
 * after it): only when it leaves the customer with no active subscription.
 */
export function endSubscription(
  state: CustomerState,
  subscription: { id: string; endedAtMs: number; entryId: string; nowMs?: number },
  maxLots = Number.POSITIVE_INFINITY,
): StateChange {
  const previous = state.facts.subscriptions[subscription.id] ?? {};
  const neverGranted = lotsAfterEnd(state, subscription).slice(0, maxLots);
  // C19/C16: a downgrade delivered after the end counts what the end cancelled after it.
  const part = endCutsAfter(
    previous,
    neverGranted,
    subscription.endedAtMs,
    subscription.nowMs ?? subscription.endedAtMs,
  );
  const facts: CustomerFacts = {
    ...state.facts,
    subscriptions: {
      ...state.facts.subscriptions,
      [subscription.id]: withDowngradeFacts(
        { ...previous, endedAtMs: subscription.endedAtMs },
        part,
      ),
    },
  };
  // A lot cancelled after it entered the ledger (a late end) leaves it again as a forfeit.
  const drafts: EntryDraft[] = neverGranted
    .filter((lot) => !lot.upcoming)
    .map((lot) => ({
      id: `${subscription.entryId}#cancel#${lot.id}`,
      type: EntryType.forfeit,
      amount: -lot.remaining,
      atMs: subscription.endedAtMs,
      ref: subscription.id,
      reason: 'granted after the subscription ended (C7)',
      lots: [{ lotId: lot.id, amount: lot.remaining }],
    }));
  return changeOf(state, {
    cancelled: neverGranted.map((lot) => ({ lot, amount: lot.remaining })),
    drafts,
    facts,
  });
}
