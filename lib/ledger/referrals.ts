import { displayReferralCode, generateReferralCode } from '../credits/referral';
import type { Budget } from '../store/call';
import { claimReferralCode } from '../store/codes';
import type { LedgerDeps } from './deps';

/**
 * C9: the customer's referral code as people see it (XXXXX-XXXXX), created on the first
 * request and the same on every later one.
 */
export async function referralCodeOf(
  deps: LedgerDeps,
  customerId: string,
  generate: () => string = generateReferralCode,
  budget?: Budget,
): Promise<string> {
  return displayReferralCode(await claimReferralCode(deps, customerId, generate, budget));
}
