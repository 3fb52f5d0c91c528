import { type Account, addLots, EntryType, endSubscription as endRule } from '../credits/account';
import { LotSource, newLot, spendableBalance } from '../credits/lots';
import {
  accountIn,
  type CommandResult,
  CommandStatus,
  type Decision,
  runCommand,
} from '../store/command';
import { fingerprint, type LedgerDeps, nowMs } from './deps';

/** One subscription line of a paid invoice: its credits already multiplied by quantity (C2). */
export type GrantLine = {
  readonly lineId: string;
  readonly credits: number;
  readonly periodStartMs: number;
};

export type SubscriptionGrant = {
  readonly customerId: string;
  readonly invoiceId: string;
  readonly subscriptionId: string;
  readonly lines: readonly GrantLine[];
  /** When Stripe created the invoice: orders a customer's paid invoices (C10). */
  readonly invoiceCreatedMs: number;
};

export type GrantOutcome =
  | { readonly result: 'granted'; readonly credits: number; readonly balance: number }
  | { readonly result: 'ignored'; readonly reason: 'subscription_ended' };

/**
 * C3: a paid subscription invoice grants its period's credits once, keyed by invoice id; each
 * line becomes a lot granted at its period start (C4). C8: an ended subscription grants nothing,
 * and that is recorded so that the invoice stays settled.
 */
export async function grantSubscriptionInvoice(
  deps: LedgerDeps,
  grant: SubscriptionGrant,
): Promise<CommandResult<GrantOutcome>> {
  const result = await runCommand<GrantOutcome>(
    deps,
    {
      customerIds: [grant.customerId],
      fact: {
        customerId: grant.customerId,
        key: `grant#${grant.invoiceId}`,
        fingerprint: fingerprint({ subscriptionId: grant.subscriptionId, lines: grant.lines }),
      },
      decide(accounts) {
        const account = accountIn(accounts, grant.customerId);
        if (grant.subscriptionId in account.endedSubscriptions) return ignoreEnded(account, grant);
        const lots = grant.lines.map((line) =>
          newLot({
            id: `${grant.invoiceId}#${line.lineId}`,
            source: LotSource.subscription,
            credits: line.credits,
            grantedAtMs: line.periodStartMs,
            ref: grant.invoiceId,
          }),
        );
        const grantedAtMs = Math.min(...grant.lines.map((line) => line.periodStartMs));
        const change = addLots(
          account,
          { type: EntryType.grant, atMs: grantedAtMs, ref: grant.invoiceId },
          lots,
        );
        const activeSince = account.activeSubscriptions[grant.subscriptionId] ?? grantedAtMs;
        const updated = {
          ...change.account,
          activeSubscriptions: {
            ...account.activeSubscriptions,
            [grant.subscriptionId]: Math.min(activeSince, grantedAtMs),
          },
          ...(isEarliestPaid(account, grant) && {
            firstPaidInvoice: { id: grant.invoiceId, atMs: grant.invoiceCreatedMs },
          }),
        };
        const credits = lots.reduce((sum, lot) => sum + lot.granted, 0);
        const balance = spendableBalance(updated.lots, nowMs(deps));
        return {
          kind: 'apply',
          changes: [{ account: updated, entries: change.entries }],
          outcome: { result: 'granted', credits, balance },
        };
      },
    },
    deps.clock,
  );
  // Remembering that an ignored invoice was paid (ignoreEnded) is bookkeeping, not a grant.
  return result.status === CommandStatus.applied && result.outcome.result === 'ignored'
    ? { ...result, status: CommandStatus.recorded }
    : result;
}

function isEarliestPaid(account: Account, grant: SubscriptionGrant): boolean {
  const first = account.firstPaidInvoice;
  return !first || grant.invoiceCreatedMs < first.atMs;
}

/**
 * C8: an ended subscription grants nothing; the invoice is recorded as settled. C10/C12/C16: it
 * was paid all the same, so it makes the customer "not new" for a later referral code: when it
 * is the earliest paid invoice, the account remembers it, or a customer whose first subscription
 * ended would redeem a code later only if Stripe had delivered that end before this invoice.
 */
function ignoreEnded(account: Account, grant: SubscriptionGrant): Decision<GrantOutcome> {
  const outcome = { result: 'ignored', reason: 'subscription_ended' } as const;
  if (!isEarliestPaid(account, grant)) return { kind: 'record', outcome };
  const firstPaidInvoice = { id: grant.invoiceId, atMs: grant.invoiceCreatedMs };
  return {
    kind: 'apply',
    changes: [{ account: { ...account, firstPaidInvoice }, entries: [] }],
    outcome,
  };
}

export type EndOutcome = { readonly result: 'ended'; readonly forfeited: number };

/**
 * C7: a subscription ended at `endedAtMs` forfeits every credit granted up to then. The end is
 * keyed by subscription id, so `customer.subscription.deleted` and an `updated` to `canceled`
 * for the same subscription settle it once.
 */
export function endSubscription(
  deps: LedgerDeps,
  end: { customerId: string; subscriptionId: string; endedAtMs: number },
): Promise<CommandResult<EndOutcome>> {
  return runCommand<EndOutcome>(
    deps,
    {
      customerIds: [end.customerId],
      fact: {
        customerId: end.customerId,
        key: `end#${end.subscriptionId}`,
        fingerprint: fingerprint({ endedAtMs: end.endedAtMs }),
      },
      decide(accounts) {
        const account = accountIn(accounts, end.customerId);
        const change = endRule(account, { id: end.subscriptionId, endedAtMs: end.endedAtMs });
        // 0 - sum, not -sum: nothing forfeited is 0, never -0.
        const forfeited = 0 - change.entries.reduce((sum, entry) => sum + entry.amount, 0);
        return { kind: 'apply', changes: [change], outcome: { result: 'ended', forfeited } };
      },
    },
    deps.clock,
  );
}
