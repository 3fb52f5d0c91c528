import { stripeEvent, stripeFixture, stripeId, type Time, unix } from './stripe-events';

/**
 * Builders of the deliveries by which money goes back (C22-C24): refunds, refunded charges,
 * credit notes and disputes, each from Stripe's own sample with only what a scenario needs
 * overwritten (see stripe-events.ts).
 */

type Json = Record<string, unknown>;

export type RefundOptions = {
  readonly paymentIntentId: string;
  readonly amount: number;
  readonly id?: string;
  readonly chargeId?: string;
  readonly created?: Time;
  /** `succeeded` (default), `pending`, `failed` or `canceled`. */
  readonly status?: string;
};

/** A refund (Stripe's `refund` sample). */
export function refundObject(options: RefundOptions): Json {
  return {
    ...stripeFixture('refund'),
    id: options.id ?? stripeId('re'),
    amount: options.amount,
    charge: options.chargeId ?? chargeOf(options.paymentIntentId),
    payment_intent: options.paymentIntentId,
    created: unix(options.created ?? '2026-11-05T00:00:00Z'),
    status: options.status ?? 'succeeded',
  };
}

/** The charge id the builders give a payment intent's charge. */
export function chargeOf(paymentIntentId: string): string {
  return `ch_${paymentIntentId.replace(/^pi_/, '')}`;
}

/** `refund.created`, `refund.updated` or `refund.failed` for a refund. */
export function refundEvent(type: string, refund: Json, created?: Time): Json {
  return stripeEvent({ type, object: refund, created: created ?? (refund.created as number) });
}

/**
 * `charge.refunded` for the charge of a payment intent with these refunds; `listed: false`
 * leaves them out, as Stripe does unless they are expanded (they are then read from the API).
 */
export function chargeRefundedEvent(options: {
  readonly paymentIntentId: string;
  readonly paid: number;
  readonly refunds: readonly Json[];
  readonly listed?: boolean;
  readonly created?: Time;
}): Json {
  const refunded = options.refunds.reduce((sum, refund) => sum + (refund.amount as number), 0);
  const chargeId = chargeOf(options.paymentIntentId);
  const charge: Json = {
    ...stripeFixture('charge'),
    id: chargeId,
    payment_intent: options.paymentIntentId,
    amount: options.paid,
    amount_captured: options.paid,
    amount_refunded: refunded,
    refunded: refunded >= options.paid,
  };
  if (options.listed === false) delete charge.refunds;
  else {
    charge.refunds = {
      object: 'list',
      data: options.refunds,
      has_more: false,
      url: `/v1/charges/${chargeId}/refunds`,
    };
  }
  return stripeEvent({
    type: 'charge.refunded',
    object: charge,
    created: options.created ?? '2026-11-05T00:00:00Z',
  });
}

/** `credit_note.created` (or `.voided`) on a paid invoice, after payment. */
export function creditNoteEvent(options: {
  readonly invoiceId: string;
  readonly customerId: string;
  readonly amount: number;
  readonly refunds?: readonly { readonly refundId: string; readonly amount: number }[];
  readonly id?: string;
  readonly type?: string;
  readonly created?: Time;
}): Json {
  const note = {
    ...stripeFixture('credit_note'),
    id: options.id ?? stripeId('cn'),
    invoice: options.invoiceId,
    customer: options.customerId,
    amount: options.amount,
    total: options.amount,
    subtotal: options.amount,
    post_payment_amount: options.amount,
    pre_payment_amount: 0,
    type: 'post_payment',
    status: options.type === 'credit_note.voided' ? 'void' : 'issued',
    created: unix(options.created ?? '2026-11-05T00:00:00Z'),
    refunds: (options.refunds ?? []).map((each) => ({
      amount_refunded: each.amount,
      refund: each.refundId,
      type: 'refund',
    })),
  };
  return stripeEvent({
    type: options.type ?? 'credit_note.created',
    object: note,
    created: note.created,
  });
}

/** A `charge.dispute.*` event (Stripe's `dispute` sample). */
export function disputeEvent(
  type: string,
  options: {
    readonly id: string;
    readonly paymentIntentId: string;
    readonly amount: number;
    readonly status: string;
    readonly created?: Time;
  },
): Json {
  return stripeEvent({
    type,
    object: {
      ...stripeFixture('dispute'),
      id: options.id,
      amount: options.amount,
      charge: chargeOf(options.paymentIntentId),
      payment_intent: options.paymentIntentId,
      status: options.status,
    },
    created: options.created ?? '2026-11-05T00:00:00Z',
  });
}
