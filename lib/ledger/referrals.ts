import { isNewCustomer, RejectionReason, redeem } from '../credits/referral';
import { normalizeReferralCode } from '../referrals/codes';
import { referrerOf } from '../referrals/store';
import {
  accountIn,
  type CommandResult,
  CommandStatus,
  type Decision,
  runCommand,
} from '../store/command';
import { fingerprint, type LedgerDeps } from './deps';

export type ReferralRedemption = {
  /** The new customer, who typed the code. */
  readonly customerId: string;
  readonly invoiceId: string;
  /** As the customer typed it: case and dashes do not matter (C9). */
  readonly code: string;
  /** The credits the first purchase granted (C11 halves them). */
  readonly purchaseCredits: number;
  readonly periodStartMs: number;
  readonly invoiceCreatedMs: number;
  readonly billingReason: string;
};

export type RedemptionOutcome =
  | {
      readonly result: 'redeemed';
      readonly referrerId: string;
      readonly bonus: number;
      readonly referrerBonus: number;
      /** Why the referrer got nothing, when they did not (C12). */
      readonly referrerSkipped?: 'referrer_inactive';
    }
  | { readonly result: 'rejected'; readonly reason: RejectionReason }
  | { readonly result: 'not_first_purchase'; readonly billingReason: string };

/**
 * C10-C12: redeems a referral code on a new customer's first paid invoice. The fact key is the
 * referee alone, so a customer redeems at most once ever, whatever the invoice or code; the
 * bonuses, the marker and the fact are one transaction, so concurrent deliveries of the first
 * invoice give one bonus pair. Rejections are recorded with their reason and give nothing.
 */
export async function redeemReferral(
  deps: LedgerDeps,
  redemption: ReferralRedemption,
): Promise<CommandResult<RedemptionOutcome>> {
  if (redemption.billingReason !== 'subscription_create') {
    // A renewal is never a first purchase; writing nothing keeps the one redemption free for
    // the customer's real first invoice, should Stripe deliver it after the renewal.
    return {
      status: CommandStatus.refused,
      outcome: { result: 'not_first_purchase', billingReason: redemption.billingReason },
    };
  }
  const code = normalizeReferralCode(redemption.code);
  const referrerId = code ? await referrerOf(deps, code) : undefined;
  const result = await runCommand<RedemptionOutcome>(
    deps,
    {
      customerIds:
        referrerId && referrerId !== redemption.customerId
          ? [redemption.customerId, referrerId]
          : [redemption.customerId],
      fact: {
        customerId: redemption.customerId,
        key: 'referral',
        fingerprint: fingerprint({
          invoiceId: redemption.invoiceId,
          code: code ?? redemption.code,
        }),
      },
      decide: (accounts) => decideRedemption(accounts, redemption, code, referrerId),
    },
    deps.clock,
  );
  if (result.status === CommandStatus.conflict) {
    // The fact exists for another invoice or code: this customer has had their one chance.
    return {
      status: result.status,
      outcome: { result: 'rejected', reason: RejectionReason.alreadyRedeemed },
    };
  }
  return result;
}

function decideRedemption(
  accounts: Parameters<typeof accountIn>[0],
  redemption: ReferralRedemption,
  code: string | null,
  referrerId: string | undefined,
): Decision<RedemptionOutcome> {
  const reject = (reason: RejectionReason): Decision<RedemptionOutcome> => ({
    kind: 'record',
    outcome: { result: 'rejected', reason },
  });
  if (!code || !referrerId) return reject(RejectionReason.unknownCode);
  if (referrerId === redemption.customerId) return reject(RejectionReason.ownCode);
  const referee = accountIn(accounts, redemption.customerId);
  if (referee.redemption) return reject(RejectionReason.alreadyRedeemed);
  if (!isNewCustomer(referee, redemption.invoiceId)) return reject(RejectionReason.notNewCustomer);
  const { changes, bonus, referrerBonus } = redeem(referee, accountIn(accounts, referrerId), {
    ...redemption,
    code,
  });
  return {
    kind: 'apply',
    changes,
    outcome: {
      result: 'redeemed',
      referrerId,
      bonus,
      referrerBonus,
      ...(referrerBonus === 0 && bonus > 0 && { referrerSkipped: 'referrer_inactive' as const }),
    },
  };
}
