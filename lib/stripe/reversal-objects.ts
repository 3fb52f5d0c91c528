import * as z from 'zod';
import { expandableId, parseWithin, unixSeconds } from './events';

/**
 * The parts of refunds, charges, credit notes, disputes and invoice payments that the reversal
 * rules read (C22-C24), validated at the edge like the rest of Stripe's payloads (events.ts).
 */

const amount = z.number().int().nonnegative();

const refundSchema = z.object({
  id: z.string().min(1),
  amount,
  charge: expandableId.nullable().optional(),
  payment_intent: expandableId.nullable().optional(),
  created: unixSeconds,
  status: z.string().nullable().optional(),
});

export type Refund = {
  readonly id: string;
  readonly amount: number;
  readonly paymentIntentId: string | null;
  readonly createdMs: number;
  /** C23: a refund that failed or was canceled gives back what it took. */
  readonly failed: boolean;
};

/** Refund statuses after which no money went back (the refund is undone). */
const FAILED_REFUND_STATUSES: readonly string[] = ['failed', 'canceled'];

export function parseRefund(object: unknown, where = 'data.object'): Refund {
  const refund = parseWithin(refundSchema, object, where);
  return {
    id: refund.id,
    amount: refund.amount,
    paymentIntentId: refund.payment_intent ?? null,
    createdMs: refund.created * 1000,
    failed: FAILED_REFUND_STATUSES.includes(refund.status ?? ''),
  };
}

const chargeSchema = z.object({
  id: z.string().min(1),
  payment_intent: expandableId.nullable().optional(),
  // Since API 2022-11-15 a charge lists its refunds only when asked to (expanded).
  refunds: z
    .object({ data: z.array(z.unknown()), has_more: z.boolean() })
    .nullable()
    .optional(),
});

export type Charge = {
  readonly id: string;
  readonly paymentIntentId: string | null;
  /** The refunds in the payload; null when they must be listed from Stripe. */
  readonly refunds: readonly Refund[] | null;
};

export function parseCharge(object: unknown): Charge {
  const charge = parseWithin(chargeSchema, object, 'data.object');
  const listed = charge.refunds && !charge.refunds.has_more ? charge.refunds.data : null;
  return {
    id: charge.id,
    paymentIntentId: charge.payment_intent ?? null,
    refunds:
      listed?.map((each, index) => parseRefund(each, `data.object.refunds.data.${index}`)) ?? null,
  };
}

const creditNoteSchema = z.object({
  id: z.string().min(1),
  invoice: expandableId,
  customer: expandableId,
  amount,
  post_payment_amount: amount.nullable().optional(),
  type: z.string().nullable().optional(),
  created: unixSeconds,
  refunds: z
    .array(z.object({ refund: expandableId, amount_refunded: amount }))
    .optional()
    .transform((value) => value ?? []),
});

export type CreditNote = {
  readonly id: string;
  readonly invoiceId: string;
  readonly customerId: string;
  /**
   * What went back after payment (`post_payment_amount`, else the whole note); 0 for a note
   * issued before payment, which lowered what was due and gave nothing back (C22).
   */
  readonly amount: number;
  readonly createdMs: number;
  /** The refunds the note carries: each is its own reversal, keyed by the refund's id (C22). */
  readonly refunds: readonly { readonly refundId: string; readonly amount: number }[];
};

export function parseCreditNote(object: unknown): CreditNote {
  const note = parseWithin(creditNoteSchema, object, 'data.object');
  return {
    id: note.id,
    invoiceId: note.invoice,
    customerId: note.customer,
    amount: note.type === 'pre_payment' ? 0 : (note.post_payment_amount ?? note.amount),
    createdMs: note.created * 1000,
    refunds: note.refunds.map((each) => ({ refundId: each.refund, amount: each.amount_refunded })),
  };
}

const disputeSchema = z.object({
  id: z.string().min(1),
  amount,
  payment_intent: expandableId.nullable().optional(),
  status: z.string().min(1),
});

export type Dispute = {
  readonly id: string;
  readonly amount: number;
  readonly paymentIntentId: string | null;
  readonly status: string;
};

export function parseDispute(object: unknown): Dispute {
  const dispute = parseWithin(disputeSchema, object, 'data.object');
  return {
    id: dispute.id,
    amount: dispute.amount,
    paymentIntentId: dispute.payment_intent ?? null,
    status: dispute.status,
  };
}

const invoicePaymentSchema = z.object({
  status: z.string().nullable().optional(),
  invoice: z.union([
    z.string().min(1),
    z.looseObject({ id: z.string().min(1), customer: expandableId.nullable() }),
  ]),
});

/** One invoice payment (`GET /v1/invoice_payments`, invoice expanded): how a refund finds it. */
export function parseInvoicePayment(
  object: unknown,
  where: string,
): { invoiceId: string; customerId: string | null } {
  const payment = parseWithin(invoicePaymentSchema, object, where);
  const invoice = payment.invoice;
  if (typeof invoice === 'string') return { invoiceId: invoice, customerId: null };
  return { invoiceId: invoice.id, customerId: invoice.customer };
}
