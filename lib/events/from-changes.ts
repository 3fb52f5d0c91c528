import * as z from 'zod';
import { customerIdOfPk, FACT_PREFIX, LEDGER_PREFIX } from '../store/keys';
import type { TableChange } from '../store/stream';
import { type CreditsEvent, DetailType, entryEventOf } from './catalog';

/**
 * Which events one change of the table stands for (C27), as a pure function of the change:
 * - a new ledger entry: its own event, and `credits.low` when it is a consumption that took
 *   the balance below the threshold;
 * - a lot the daily job has just marked (`expiringNoticeAt` set where it was not):
 *   `credits.expiring`;
 * - a new command fact whose outcome is a rejected referral code: `referral.rejected` (C12
 *   records a rejection only there, not in the ledger);
 * - anything else (lots spent, the account, subscriptions, removals): nothing.
 */
export type EventSettings = {
  /** LOW_BALANCE_THRESHOLD, in credits. */
  readonly lowBalanceThreshold: number;
};

export type ChangeEvents = {
  readonly events: readonly CreditsEvent[];
  /** An entry type with no line in ENTRY_EVENTS yet (published as `credits.adjusted`). */
  readonly unknownEntryType?: string;
};

/** A change this table's writers could not have made: a fault of the record, never skipped. */
export class UnexpectedItemError extends Error {
  constructor(sk: string, field: string, message: string) {
    super(`${sk}: ${field} ${message}`);
    this.name = 'UnexpectedItemError';
  }
}

const NONE: ChangeEvents = { events: [] };

export function eventsOfChange(change: TableChange, settings: EventSettings): ChangeEvents {
  if (change.kind === 'ledger' && change.change === 'INSERT') return ledgerEvents(change, settings);
  if (change.kind === 'lot' && change.change === 'MODIFY') return expiringEvents(change);
  if (change.kind === 'fact' && change.change === 'INSERT') return rejectionEvents(change);
  return NONE;
}

/** The customer of an item: its attribute, or (entries of 0.1.0 have none) its partition key. */
function customerOf(change: TableChange, item: { customerId?: string | undefined }): string {
  return item.customerId ?? customerIdOfPk(change.pk);
}

/** An id that differs between kinds and customers; customer ids may hold any character. */
export function eventId(kind: string, customerId: string, key: string): string {
  return `${kind}/${encodeURIComponent(customerId)}/${key}`;
}

function parse<S extends z.ZodType>(schema: S, change: TableChange): z.infer<S> {
  const parsed = schema.safeParse(change.newItem);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new UnexpectedItemError(
    change.sk,
    issue?.path.join('.') || 'item',
    issue?.message ?? 'is invalid',
  );
}

const ledgerItemSchema = z.object({
  customerId: z.string().min(1).optional(),
  id: z.string().min(1).optional(),
  type: z.string().min(1),
  amount: z.number().int(),
  balanceAfter: z.number().int(),
  at: z.string().min(1),
  ref: z.string(),
  reason: z.string().optional(),
  recordedAt: z.string().optional(),
});

/**
 * The entry's place in the ledger and its id, from its sort key: `LEDGER#<recordedAt>#<place>
 * #<id>` today, `LEDGER#<12-digit seq>` for entries of 0.1.0, which carry no id of their own
 * (their sequence number is unique per customer and never reused, so it serves as one).
 */
export function ledgerPosition(sk: string): { sequence: string; derivedId: string } {
  const [recordedAt, place, ...id] = sk.slice(LEDGER_PREFIX.length).split('#');
  if (place === undefined) return { sequence: recordedAt ?? '', derivedId: `seq#${recordedAt}` };
  return { sequence: `${recordedAt}#${place}`, derivedId: id.join('#') };
}

function ledgerEvents(change: TableChange, settings: EventSettings): ChangeEvents {
  const entry = parse(ledgerItemSchema, change);
  const customerId = customerOf(change, entry);
  const { sequence, derivedId } = ledgerPosition(change.sk);
  const entryId = entry.id ?? derivedId;
  const mapped = entryEventOf(entry.type);
  const base = {
    customerId,
    type: entry.type,
    amount: entry.amount,
    balanceAfter: entry.balanceAfter,
    at: entry.at,
    ref: entry.ref,
    sequence,
    entryId,
  };
  const time = entry.recordedAt && { time: entry.recordedAt };
  const events: CreditsEvent[] = [
    {
      detailType: mapped.detailType,
      detail: {
        id: eventId('entry', customerId, entryId),
        ...base,
        ...(entry.reason !== undefined && { reason: entry.reason }),
      },
      ...time,
    },
  ];
  const threshold = settings.lowBalanceThreshold;
  if (mapped.canRunLow && crossesBelow(entry, threshold)) {
    events.push({
      detailType: DetailType.low,
      detail: {
        id: eventId('low', customerId, entryId),
        ...base,
        type: 'low_balance',
        threshold,
      },
      ...time,
    });
  }
  return { events, ...(!mapped.known && { unknownEntryType: entry.type }) };
}

/**
 * C27 `credits.low`, by the writer's view: the entry took the balance from `threshold` or more
 * to below it (the balance before is `balanceAfter` less the entry's negative amount).
 * `balanceAfter` is the balance its writer read, less its own take. When a customer's spends do
 * not overlap that is the ledger's running balance, and each crossing is told exactly once
 * (redeliveries share the id). Overlapping spends each miss the other's take: two that both read
 * 10 with a threshold of 10 both report a crossing (two notices, each with its own consumption's
 * id); two that both read 12 and take 2 each both report 10 while the balance is 8, and that
 * crossing is told by neither, nor by the next spend, which starts below the threshold.
 */
export function crossesBelow(
  entry: { readonly amount: number; readonly balanceAfter: number },
  threshold: number,
): boolean {
  const before = entry.balanceAfter - entry.amount;
  return entry.amount < 0 && entry.balanceAfter < threshold && before >= threshold;
}

const noticedLotSchema = z.object({
  customerId: z.string().min(1).optional(),
  lotId: z.string().min(1),
  ref: z.string(),
  remaining: z.number().int().nonnegative(),
  expiresAt: z.string().min(1),
  expiringNoticeAt: z.string().min(1),
});

function expiringEvents(change: TableChange): ChangeEvents {
  const noticed = change.newItem?.expiringNoticeAt !== undefined;
  const before = change.oldItem?.expiringNoticeAt !== undefined;
  // Every other change of a lot (a spend, a forfeit, a spend after the notice) tells nothing.
  if (!noticed || before) return NONE;
  const lot = parse(noticedLotSchema, change);
  const customerId = customerOf(change, lot);
  return {
    events: [
      {
        detailType: DetailType.expiring,
        detail: {
          id: eventId('expiring', customerId, lot.lotId),
          customerId,
          type: 'expiring',
          amount: lot.remaining,
          balanceAfter: null,
          at: lot.expiresAt,
          ref: lot.ref,
          lotId: lot.lotId,
          expiresAt: lot.expiresAt,
        },
        time: lot.expiringNoticeAt,
      },
    ],
  };
}

const rejectedFactSchema = z.object({
  recordedAt: z.string().min(1),
  outcome: z.object({
    referral: z.object({ result: z.literal('rejected'), reason: z.string().min(1) }),
  }),
});

function rejectionEvents(change: TableChange): ChangeEvents {
  const outcome = change.newItem?.outcome as { referral?: { result?: unknown } } | undefined;
  if (outcome?.referral?.result !== 'rejected') return NONE;
  const fact = parse(rejectedFactSchema, change);
  const customerId = customerIdOfPk(change.pk);
  // `FACT#grant#<invoice>`: the command and its natural key; the key is the cause.
  const key = change.sk.slice(FACT_PREFIX.length);
  const ref = key.slice(key.indexOf('#') + 1);
  return {
    events: [
      {
        detailType: DetailType.referralRejected,
        detail: {
          id: eventId('referral-rejected', customerId, key),
          customerId,
          type: 'referral_rejected',
          amount: 0,
          balanceAfter: null,
          at: fact.recordedAt,
          ref,
          reason: fact.outcome.referral.reason,
        },
        time: fact.recordedAt,
      },
    ],
  };
}
