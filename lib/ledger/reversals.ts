import { itemsAtMost } from '../credits/batches';
import { settleByTime } from '../credits/changes';
import { cutAfter, hasLaterDowngrade } from '../credits/cuts-after';
import { effectiveLots } from '../credits/forfeits';
import { spendableBalance } from '../credits/lots';
import {
  emptyRecord,
  latestReversalMs,
  type PurchaseGrant,
  type PurchaseRecord,
  refereeTarget,
  withReversal,
} from '../credits/purchase';
import {
  MAX_ITEMS_PER_TAKE_BACK,
  type ReversalStep,
  type Settled,
  settleReferrer,
  settleTakeBack,
} from '../credits/reversals';
import {
  andThen,
  type CustomerState,
  changeOf,
  mergeChanges,
  type StateChange,
  stateAfter,
  totalDebt,
} from '../credits/state';
import { defaultBudget } from '../store/call';
import {
  type CommandResult,
  type Decision,
  type PurchaseRead,
  type RunOptions,
  runCommand,
  stateIn,
} from '../store/command';
import { readPurchase } from '../store/purchases';
import { fingerprint, type LedgerDeps, nowMs } from './deps';
import { replanCuts } from './recut';

/** Money going back for a purchase (C22), or coming back again (C23: a reversal undone). */
export type ReversalRequest = {
  readonly customerId: string;
  /** The purchase: the invoice id, else the Checkout Session's (C21). */
  readonly purchaseId: string;
  /**
   * The reversal's natural key: `refund#re_...`, `dispute#dp_...` or `credit_note#cn_...` (the
   * part of a note that is not a refund), so that one refund seen through several events counts
   * once (C22).
   */
  readonly key: string;
  /** Minor units of the purchase's currency. */
  readonly amount: number;
  /** Stripe's time of the reversal, or of its undoing (C22). */
  readonly atMs: number;
  /** True for the undoing phase: a dispute won, a refund failed, a credit note voided. */
  readonly undo: boolean;
};

export type ReversalOutcome = {
  /** `pending`: the purchase's grant has not arrived; it applies the reversal (C16). */
  readonly result: 'reversed' | 'undone' | 'pending';
  readonly purchaseId: string;
  /** C22: credits the purchase (and the referee's bonus) have lost so far, debt included. */
  readonly lost: number;
  /** C23: what the customer owes after it. */
  readonly debt: number;
  readonly balance: number;
};

/** How many times the referrer read before the command may turn out not to be the one. */
const MAX_REFERRER_READS = 3;

/**
 * C22-C24: records a reversal of a purchase by its natural key and moves the customer (and the
 * referrer of a first purchase) to what all of the purchase's reversals so far take back, in one
 * transaction with the purchase's record and the command's fact. The undo of a reversal is its
 * own command (`undo#<key>`), so that both phases are idempotent and either may come first.
 */
export async function reverse(
  deps: LedgerDeps,
  request: ReversalRequest,
  options: RunOptions = {},
): Promise<CommandResult<ReversalOutcome>> {
  const budget = options.budget ?? defaultBudget();
  for (let read = 1; ; read++) {
    // The referrer is a customer the command must read: known from the record's grant.
    const known = await readPurchase(deps, request.customerId, request.purchaseId, budget);
    const referrerId = known.granted?.referral?.referrerId;
    const result = await runCommand<ReversalOutcome | 'referrer_unknown'>(
      deps,
      {
        label: `${request.undo ? 'undo' : 'reversal'} ${request.key}`,
        customerIds: referrerId ? [request.customerId, referrerId] : [request.customerId],
        // Just read (strongly consistent), so not read again: its write is conditioned on the
        // version read, and a record changed since cancels it and is decided on as it is.
        purchases: [
          { customerId: request.customerId, purchaseId: request.purchaseId, expected: known },
        ],
        fact: {
          customerId: request.customerId,
          key: factKeyOf(request),
          fingerprint: fingerprint({ purchaseId: request.purchaseId, amount: request.amount }),
        },
        decide: (states) => decideReversal(states, request, nowMs(deps)),
      },
      { ...options, budget },
    );
    if (result.outcome !== 'referrer_unknown') {
      return result as CommandResult<ReversalOutcome>;
    }
    if (read >= MAX_REFERRER_READS) throw new Error(`referrer of ${request.purchaseId} unsettled`);
  }
}

export function factKeyOf(request: Pick<ReversalRequest, 'key' | 'undo'>): string {
  return `${request.undo ? 'undo' : 'reverse'}#${request.key}`;
}

function decideReversal(
  states: ReadonlyMap<string, CustomerState>,
  request: ReversalRequest,
  atNowMs: number,
): Decision<ReversalOutcome | 'referrer_unknown'> {
  const read = stateIn(states, request.customerId);
  const record = withReversal(recordIn(read, request.purchaseId), request.key, request);
  const referrerId = record.granted?.referral?.referrerId;
  if (referrerId && !states.has(referrerId)) {
    // The grant landed between the first read and this one: read again with the referrer.
    return { kind: 'refuse', outcome: 'referrer_unknown' };
  }
  const step = { entryId: factKeyOf(request), atMs: request.atMs };
  const batch = takeBackBatch(states, record, step, atNowMs);
  return {
    kind: 'apply',
    changes: batch.changes,
    outcome: {
      result: !record.granted ? 'pending' : request.undo ? 'undone' : 'reversed',
      purchaseId: request.purchaseId,
      lost: batch.record.lost,
      debt: totalDebt(batch.state.facts),
      balance: spendableBalance(effectiveLots(batch.state, atNowMs), atNowMs),
    },
    final: !batch.more,
  };
}

/** One transaction of a take-back: its changes, the customer after them, the record written. */
type TakeBackTransaction = {
  readonly changes: StateChange[];
  readonly state: CustomerState;
  readonly record: PurchaseRecord;
  /** More to take than the transaction held: the command runs again for the rest. */
  readonly more: boolean;
};

/**
 * C22-C24: one transaction moving the customer towards what `record` asks (its version still the
 * one read): what time settled first, then as much of the take-back as fits beside it, each
 * batch its own entry and the record counting what it took; the referrer's share and any debt go
 * with the last. A batch that is not the last is checked against the command's fact (command.ts),
 * so a second delivery cannot take a batch more after the first finished.
 */
function takeBackBatch(
  states: ReadonlyMap<string, CustomerState>,
  record: PurchaseRecord,
  step: ReversalStep,
  atNowMs: number,
): TakeBackTransaction {
  const read = stateIn(states, record.customerId);
  const settled = settleByTime(read, atNowMs);
  const later = laterCut(settled.state, step.atMs);
  if (record.granted && later.length > 0 && refereeTarget(record) === record.lost) {
    // What time settled (a month come due) goes alone first: the plan may cut that very lot,
    // and one transaction writes a lot once.
    if (settled.change) {
      const written = { ...record, version: recordIn(read, record.id).version + 1 };
      return {
        changes: [withRecord(read, settled.change, written)],
        state: stateAfter(read, settled.change),
        record: written,
        more: true,
      };
    }
    const recut = recutBatch(read, later, step, atNowMs);
    if (recut) {
      const written = { ...record, version: recordIn(read, record.id).version + 1 };
      return {
        changes: [withRecord(read, recut.change, written)],
        state: recut.change ? stateAfter(read, recut.change) : read,
        record: written,
        more: recut.more,
      };
    }
  }
  const taken = settleTakeBack(settled.state, record, step, {
    maxItems: MAX_ITEMS_PER_TAKE_BACK - itemsAtMost(settled.change),
    ...(later.length > 0 && { cutAfter: cutAfter(settled.state.facts, step.atMs, atNowMs) }),
  });
  const own = andThen(read, settled.change, () => taken.change);
  const referrerId = record.granted?.referral?.referrerId;
  const referrer =
    referrerId && !taken.more
      ? settleReferrer(stateIn(states, referrerId), taken.record, step)
      : { record: taken.record };
  const written = { ...referrer.record, version: recordIn(read, record.id).version + 1 };
  return {
    changes: [withRecord(read, own.change, written), ...(referrer.change ? [referrer.change] : [])],
    state: own.state,
    record: written,
    more: goesOn(taken, later),
  };
}

/**
 * C19 C22: the customer's subscriptions with a downgrade Stripe billed at or after the
 * reversal's time, whose cuts a take-back may find before them (cuts-after.ts).
 */
function laterCut(state: CustomerState, atMs: number): string[] {
  return Object.entries(state.facts.subscriptions)
    .filter(([, subscription]) => hasLaterDowngrade(subscription, atMs))
    .map(([subscriptionId]) => subscriptionId)
    .sort();
}

/**
 * Whether the command runs again after this take-back: its batch was full, or it moved lots
 * beside a later downgrade's cuts (`later`), which the next transaction plans again.
 */
function goesOn(taken: Settled, later: readonly string[]): boolean {
  return taken.more === true || (later.length > 0 && taken.change !== undefined);
}

/**
 * C19 C22 C16: once the take-back is done, the cuts of the subscriptions it may have taken
 * from are planned again, one subscription a transaction (the first whose lots differ from its
 * plan, the others in the next); nothing when all agree.
 */
function recutBatch(
  state: CustomerState,
  subscriptionIds: readonly string[],
  step: ReversalStep,
  atNowMs: number,
): { change?: StateChange; more: boolean } | undefined {
  for (const [index, subscriptionId] of subscriptionIds.entries()) {
    const entryId = `${step.entryId}#recut#${subscriptionId}`;
    const recut = replanCuts(state, subscriptionId, entryId, atNowMs);
    // The last subscription's plan done in full: the command's last transaction.
    const more = recut.more || index < subscriptionIds.length - 1;
    if (recut.change) return { change: recut.change, more };
  }
  return undefined;
}

/** How the grant names the take-back of the reversals delivered before it, and dates it. */
function grantReversalStep(record: PurchaseRecord): ReversalStep {
  return { entryId: `grant#${record.id}#reversals`, atMs: latestReversalMs(record) };
}

/**
 * C16 C22: a grant whose last transaction could not take back all that the reversals delivered
 * before it ask (its record keeps `settlingGrant`) goes on, a batch a transaction as a reversal
 * does; the last batch removes `settlingGrant`, and the grant writes its fact with it.
 */
export function settleGrantReversals(
  states: ReadonlyMap<string, CustomerState>,
  record: PurchaseRecord,
  atNowMs: number,
): TakeBackTransaction {
  const batch = takeBackBatch(states, record, grantReversalStep(record), atNowMs);
  if (batch.more) return batch;
  const { settlingGrant: _settled, ...done } = batch.record;
  const [own, ...referrer] = batch.changes;
  const read = stateIn(states, record.customerId);
  return { ...batch, changes: [withRecord(read, own, done), ...referrer], record: done };
}

function recordIn(state: CustomerState, purchaseId: string): PurchaseRecord {
  return state.purchases?.get(purchaseId) ?? emptyRecord(state.customerId, purchaseId);
}

/** The change with the purchase's record in it (a change of nothing else when there is none). */
function withRecord(
  state: CustomerState,
  change: StateChange | undefined,
  record: PurchaseRecord,
): StateChange {
  return { ...(change ?? changeOf(state, { drafts: [] })), purchases: [record] };
}

/**
 * How a grant reads its purchase's record: it expects none, since only a reversal delivered
 * before the grant (C16) writes one first, so it does not read it. The record's write checks
 * the guess: a reversal that came first fails the grant's transaction, which returns the
 * record, and the grant is decided again on it (PurchaseRead in lib/store/command.ts).
 */
export function expectNoRecord(customerId: string, purchaseId: string): PurchaseRead {
  return { customerId, purchaseId, expected: emptyRecord(customerId, purchaseId) };
}

/**
 * A grant's last transaction records what its purchase granted (C22), and applies the
 * reversals Stripe delivered before it (C16: they take effect when the grant arrives), judged
 * at the latest of their times. `own` is the grant's change (with the referee's side of a
 * redemption) and the state after it; the record is the one the grant's command decided on.
 *
 * `settling` is what the grant answers: given, the take-back gets what the grant's change leaves
 * of a transaction, and when it needs more (`more`) the record keeps the answer as
 * `settlingGrant`, the referrer's share waiting for the last batch (settleGrantReversals). A pack
 * omits it: its take-back only makes smaller the lots this very transaction creates.
 */
export function withPurchaseRecord(
  read: CustomerState,
  own: { state: CustomerState; change?: StateChange },
  purchaseId: string,
  granted: PurchaseGrant,
  referrer?: { read: CustomerState; change?: StateChange },
  settling?: { readonly answer: Readonly<Record<string, unknown>>; readonly nowMs: number },
): { state: CustomerState; change: StateChange; referrerChange?: StateChange; more: boolean } {
  const before = recordIn(read, purchaseId);
  const record = { ...before, version: before.version + 1, granted };
  const step = grantReversalStep(record);
  // C19 C22: a subscription's grant may find months a later downgrade cut; its transactions
  // that follow plan those cuts again (takeBackBatch). A pack's take-back has no later
  // transaction: the pack's new lots hold what it takes, unless they repaid a debt first.
  const later = settling ? laterCut(own.state, step.atMs) : [];
  const taken = settleTakeBack(
    own.state,
    record,
    step,
    settling
      ? {
          ...besideGrant(own.change, referrer?.change),
          ...(later.length > 0 && {
            cutAfter: cutAfter(own.state.facts, step.atMs, settling.nowMs),
          }),
        }
      : undefined,
  );
  const change =
    own.change && taken.change
      ? mergeChanges(own.change, taken.change)
      : (own.change ?? taken.change);
  // C24: the referrer's share comes out of the bonus lot this very transaction creates.
  const clawed =
    referrer?.change && !taken.more
      ? settleReferrer(stateAfter(referrer.read, referrer.change), taken.record, step)
      : { record: taken.record };
  const more = goesOn(taken, later);
  const kept =
    more && settling ? { ...clawed.record, settlingGrant: settling.answer } : clawed.record;
  const written = withRecord(read, change, { ...kept, version: record.version });
  const referrerChange =
    referrer?.change && clawed.change
      ? mergeChanges(referrer.change, { ...clawed.change, quiet: referrer.change.quiet })
      : referrer?.change;
  return {
    state: stateAfter(read, written),
    change: written,
    ...(referrerChange && { referrerChange }),
    more,
  };
}

/**
 * What a grant's change leaves of a transaction to the take-back: the lots it creates cost the
 * take-back nothing more (cancelling one only makes it smaller).
 */
function besideGrant(own: StateChange | undefined, referrer: StateChange | undefined) {
  return {
    maxItems: MAX_ITEMS_PER_TAKE_BACK - itemsAtMost(own) - itemsAtMost(referrer),
    created: new Set(own?.created.map((lot) => lot.id)),
  };
}
