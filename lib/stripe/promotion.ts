import * as z from 'zod';
import { ConfigError } from '../errors';
import { type StripeAccess, stripeFault } from './client';

/** The metadata key that carries a referral code, on a subscription or a promotion code (C10). */
export const REFERRAL_METADATA_KEY = 'referral_code';

const discountSchema = z.looseObject({
  promotion_code: z
    .union([
      z.string(),
      z.looseObject({ id: z.string(), metadata: z.record(z.string(), z.string()).nullish() }),
    ])
    .nullish(),
});
const promotionCodeSchema = z.looseObject({ metadata: z.record(z.string(), z.string()).nullish() });

export type PromotionReferral =
  | { readonly code: string }
  | { readonly code: null; readonly note?: string };

/**
 * C10: a new customer may also bring a referral code as a Stripe promotion code whose metadata
 * carries `referral_code`. Webhook invoices list their discounts as ids only, so this reads the
 * invoice's discounts and their promotion codes through the Stripe API. It is only asked for a
 * first purchase that has discounts and no code in the subscription's metadata, so ordinary
 * events never call Stripe. Without STRIPE_SECRET_KEY the grant still goes ahead, without the
 * promotion-code referral, and the note says why.
 */
export async function referralCodeFromDiscounts(
  stripe: StripeAccess,
  invoiceId: string,
): Promise<PromotionReferral> {
  let client: Awaited<ReturnType<StripeAccess>>;
  try {
    client = await stripe(`read the promotion codes of invoice ${invoiceId}`);
  } catch (error) {
    if (error instanceof ConfigError) return { code: null, note: error.message };
    throw error;
  }
  for (const promotion of await promotionCodesOf(client, invoiceId)) {
    const metadata =
      typeof promotion === 'string'
        ? await promotionMetadata(client, promotion)
        : (promotion.metadata ?? {});
    const code = metadata[REFERRAL_METADATA_KEY]?.trim();
    if (code) return { code };
  }
  return { code: null };
}

async function promotionCodesOf(client: Awaited<ReturnType<StripeAccess>>, invoiceId: string) {
  let invoice: unknown;
  try {
    invoice = await client.invoices.retrieve(invoiceId, { expand: ['discounts'] });
  } catch (error) {
    throw stripeFault(`GET /v1/invoices/${invoiceId}?expand[]=discounts`, error);
  }
  const discounts =
    z.looseObject({ discounts: z.array(z.unknown()).nullish() }).parse(invoice).discounts ?? [];
  return discounts.flatMap((discount) => {
    const parsed = discountSchema.safeParse(discount);
    return parsed.success && parsed.data.promotion_code ? [parsed.data.promotion_code] : [];
  });
}

async function promotionMetadata(
  client: Awaited<ReturnType<StripeAccess>>,
  promotionCodeId: string,
) {
  try {
    const promotion = await client.promotionCodes.retrieve(promotionCodeId);
    return promotionCodeSchema.parse(promotion).metadata ?? {};
  } catch (error) {
    throw stripeFault(`GET /v1/promotion_codes/${promotionCodeId}`, error);
  }
}
