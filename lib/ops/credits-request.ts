import * as z from 'zod';
import { parseWith } from '../input';

/**
 * The `credits` function's input (DESIGN.md), validated once at the edge. Amounts are whole
 * credits (C1); times are ISO-8601.
 */
/** A required text field: absent says "is required", not zod's type-level wording. */
const text = () =>
  z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') });
const customerId = text().trim().min(1, 'is required');
const idempotencyKey = text()
  .trim()
  .min(1, 'is required')
  .max(200, 'is longer than 200 characters');
const isoTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 time, e.g. 2026-11-21T12:00:00Z',
});
const number = () =>
  z.number({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a number') });
const positiveCredits = number()
  .int('must be a whole number of credits')
  .positive('must be at least 1');

const creditsRequestSchema = z.discriminatedUnion(
  'action',
  [
    z.object({ action: z.literal('balance'), customerId, now: isoTime.optional() }),
    z.object({
      action: z.literal('consume'),
      customerId,
      amount: positiveCredits,
      idempotencyKey,
      now: isoTime.optional(),
    }),
    z.object({
      action: z.literal('ledger'),
      customerId,
      limit: z.number().int().min(1).max(1000).optional(),
      cursor: z.string().min(1).optional(),
    }),
    z.object({ action: z.literal('referralCode'), customerId }),
    z.object({
      action: z.literal('adjust'),
      customerId,
      amount: number()
        .int('must be a whole number of credits')
        .refine((value) => value !== 0, 'must not be 0'),
      reason: text().trim().min(1, 'is required: say why ops changed the balance'),
      idempotencyKey,
      at: isoTime.optional(),
    }),
    // Ops, after an incident: C14 for one customer, or the whole table a page at a time.
    z.object({
      action: z.literal('audit'),
      customerId: customerId.optional(),
      limit: z.number().int().min(1).max(1000).optional(),
      cursor: z.string().min(1).optional(),
      now: isoTime.optional(),
    }),
  ],
  { error: () => 'must be one of balance, consume, ledger, referralCode, adjust, audit' },
);

export type CreditsRequest = z.infer<typeof creditsRequestSchema>;

/** Parses an invoke's JSON; the first problem becomes an InputError naming its field. */
export function parseCreditsRequest(input: unknown): CreditsRequest {
  return parseWith(creditsRequestSchema, input);
}
