import * as z from 'zod';
import { MAX_HOLD_TTL_S, MIN_HOLD_TTL_S } from '../credits/holds';
import { parseWith } from '../input';

/**
 * The `credits` function's input (DESIGN.md), validated once at the edge. Amounts are whole
 * credits (C1); times are ISO-8601.
 */
/** A required text field: absent says "is required", not zod's type-level wording. */
const text = () =>
  z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') });
/**
 * The longest identifier (DESIGN.md): customer ids, idempotency keys, hold ids and restore keys
 * become parts of DynamoDB keys, whose sort keys hold at most 1,024 bytes, so they are bounded
 * here rather than failing in the store. A character outside ASCII takes several bytes, hence
 * the second bound.
 */
export const MAX_IDENTIFIER_LENGTH = 255;
const identifier = () =>
  text()
    .trim()
    .min(1, 'is required')
    .max(MAX_IDENTIFIER_LENGTH, `is longer than ${MAX_IDENTIFIER_LENGTH} characters`)
    .refine(
      (value) => Buffer.byteLength(value, 'utf8') <= MAX_IDENTIFIER_LENGTH,
      `is longer than ${MAX_IDENTIFIER_LENGTH} bytes in UTF-8`,
    );
const customerId = identifier();
const idempotencyKey = identifier();
const holdId = identifier();
const isoTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 time, e.g. 2026-11-21T12:00:00Z',
});
const number = () =>
  z.number({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a number') });
const positiveCredits = number()
  .int('must be a whole number of credits')
  .positive('must be at least 1');
/** C25: a hold's time to live; the floor is the lot cache's (lib/credits/holds.ts). */
const ttlSeconds = number()
  .int('must be a whole number of seconds')
  .min(MIN_HOLD_TTL_S, `must be at least ${MIN_HOLD_TTL_S} seconds`)
  .max(MAX_HOLD_TTL_S, `must be at most ${MAX_HOLD_TTL_S} seconds (24 hours)`);

/** C26: a restore names a consume by its idempotency key, or a settled hold by its id. */
const restoreRequest = z
  .object({
    action: z.literal('restore'),
    customerId,
    idempotencyKey: idempotencyKey.optional(),
    holdId: holdId.optional(),
    restoreKey: identifier(),
    amount: positiveCredits.optional(),
    now: isoTime.optional(),
  })
  .refine((request) => request.idempotencyKey !== undefined || request.holdId !== undefined, {
    path: ['idempotencyKey'],
    message: "is required: the consume's key (or holdId, for a settled hold's consumption)",
  })
  .refine((request) => request.idempotencyKey === undefined || request.holdId === undefined, {
    path: ['holdId'],
    message: 'must not be given with idempotencyKey: name one consumption',
  });

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
      action: z.literal('reserve'),
      customerId,
      amount: positiveCredits,
      holdId,
      ttlSeconds: ttlSeconds.optional(),
      now: isoTime.optional(),
    }),
    z.object({
      action: z.literal('settle'),
      customerId,
      holdId,
      // 0 settles a job that made nothing: every credit goes back.
      amount: number().int('must be a whole number of credits').nonnegative('must be 0 or more'),
      now: isoTime.optional(),
    }),
    z.object({ action: z.literal('release'), customerId, holdId, now: isoTime.optional() }),
    restoreRequest,
    z.object({
      action: z.literal('adjust'),
      customerId,
      amount: number()
        .int('must be a whole number of credits')
        .refine((value) => value !== 0, 'must not be 0'),
      reason: text()
        .trim()
        .min(1, 'is required: say why ops changed the balance')
        .max(1_000, 'is longer than 1000 characters'),
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
  {
    error: () =>
      'must be one of balance, consume, reserve, settle, release, restore, ledger, referralCode, adjust, audit',
  },
);

export type CreditsRequest = z.infer<typeof creditsRequestSchema>;

/** Parses an invoke's JSON; the first problem becomes an InputError naming its field. */
export function parseCreditsRequest(input: unknown): CreditsRequest {
  return parseWith(creditsRequestSchema, input);
}
