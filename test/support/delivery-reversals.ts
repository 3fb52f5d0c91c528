import fc from 'fast-check';

/**
 * Money going back (C22-C24) in the delivery histories of test/property/delivery-model.test.ts:
 * the abstract `reverse` intent fast-check generates, how the planner turns it into Stripe
 * events (refunds seen through `refund.created`, `refund.updated`, `charge.refunded` and credit
 * notes; refunds that fail; credit notes that are not refunds, voided; disputes lost and won),
 * which events must not share a shuffled batch with it, and how a failing history prints it.
 * The reference side is test/support/delivery-reversal-book.ts.
 */

/** What happens to the money of one purchase. */
export type ReversalAction =
  | 'refund'
  | 'refundFails'
  | 'creditNote'
  | 'voidNote'
  | 'dispute'
  | 'disputeWon';

/** Through which events Stripe shows a refund (each counts once by the refund's id, C22). */
export type RefundVia = 'created' | 'updated' | 'charge' | 'chargeUnlisted' | 'note';

export type ReversalIntent = {
  kind: 'reverse';
  customer: number;
  /** With `customer`, which purchase (latest first, modulo) among those of every customer. */
  purchase: number;
  action: ReversalAction;
  /** Percent of the amount paid (at most what is not reversed yet). */
  percent: number;
  vias: RefundVia[];
  /** Both `funds_withdrawn`/`funds_reinstated` and `closed`, or only one of them. */
  disputeVia: 'funds' | 'closed' | 'both';
  /** A spend of the same customer, delivered concurrently with the reversal (C16, C23). */
  spend: number | null;
  /** One list of deliveries per event, as the other intents (test/support/delivery-model.ts). */
  copies: [Copy[], Copy[], Copy[]];
};

type Copy = { key: number; together: boolean };

export function reversalIntent(copies: fc.Arbitrary<[Copy[], Copy[], Copy[]]>) {
  return fc.record({
    kind: fc.constant('reverse' as const),
    customer: fc.nat({ max: 3 }),
    purchase: fc.nat({ max: 3 }),
    action: fc.constantFrom<ReversalAction>(
      'refund',
      'refund',
      'refundFails',
      'creditNote',
      'voidNote',
      'dispute',
      'disputeWon',
    ),
    // Mostly partial, so that later reversals of the same purchase find money left (C22).
    percent: fc.oneof(
      { weight: 1, arbitrary: fc.constant(100) },
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 60 }) },
    ),
    vias: fc.uniqueArray(
      fc.constantFrom<RefundVia>('created', 'updated', 'charge', 'chargeUnlisted', 'note'),
      { minLength: 1, maxLength: 3 },
    ),
    disputeVia: fc.constantFrom('funds' as const, 'closed' as const, 'both' as const),
    spend: fc.oneof(
      { weight: 2, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 400 }) },
    ),
    copies,
  });
}

/** A refund as Stripe shows it at one moment. */
export type RefundFact = {
  id: string;
  amount: number;
  status: 'succeeded' | 'pending' | 'failed';
  createdMs: number;
};

export type ReversalBody =
  | { kind: 'refund'; refund: RefundFact }
  /** `charge.refunded`: every refund of the charge so far; `seq` orders the lists (newest wins). */
  | { kind: 'charge'; refunds: RefundFact[]; listed: boolean; seq: number }
  | {
      kind: 'note';
      noteId: string;
      amount: number;
      refunds: { refundId: string; amount: number }[];
    }
  | {
      kind: 'dispute';
      disputeId: string;
      amount: number;
      status: 'needs_response' | 'lost' | 'won';
    };

/** One reversal (or undoing) as the model reads it: the natural key C22 counts it once by. */
export type ReversalFactOf = { key: string; amount: number; undo: boolean };

export type ReversalEvent = {
  kind: 'reversal';
  eventId: string;
  type: string;
  customer: number;
  /** The purchase: an invoice of the customer's (a subscription's or a pack's). */
  invoiceId: string;
  paid: number;
  /** Stripe's time of the event (C22), the batch's time. */
  atMs: number;
  body: ReversalBody;
  /** The customer whose code the purchase carried, if another's (C24: their bonus goes too). */
  referrer: number | undefined;
  /** Delivered in the same shuffled part as its purchase's grant: it may come first (C16). */
  withGrant: boolean;
};

/** What the planner knows of a purchase with money paid. */
export type PlannedPurchase = {
  customer: number;
  invoiceId: string;
  paid: number;
  referrer: number | undefined;
  /** The batch it was planned in. */
  batch: number;
  /** C8: an ended subscription's purchase is left alone (its grant may be cut short). */
  ended: () => boolean;
  refunds: RefundFact[];
  notes: { id: string; amount: number; voided: boolean }[];
  disputes: { id: string; amount: number; won: boolean }[];
};

/** What a reverse intent makes: its events, and the spend that goes with them. */
export type ReversalMade = {
  events: ReversalEvent[];
  settle: (atMs: number) => void;
  spend?: { customer: number; amount: number };
};

/** The planner's part for reversals: the purchases so far and what went back of each. */
export class ReversalPlanner {
  private readonly purchases: PlannedPurchase[] = [];
  private charges = 0;
  batch = 0;

  constructor(private readonly eventId: () => string) {}

  purchased(purchase: Omit<PlannedPurchase, 'batch' | 'refunds' | 'notes' | 'disputes'>): void {
    if (purchase.paid <= 0) return; // C10/C18: a $0 invoice paid nothing that could go back
    this.purchases.push({ ...purchase, batch: this.batch, refunds: [], notes: [], disputes: [] });
  }

  /**
   * Picks a purchase not of an ended subscription: one with something to undo for an undoing
   * action (else the action becomes its reversal), so that undoings happen often enough.
   */
  resolve(wanted: ReversalIntent): ReversalMade | undefined {
    const live = this.purchases.filter((each) => !each.ended());
    const undoable = live.filter((each) => canUndo(each, wanted.action));
    const intent = undoable.length > 0 ? wanted : { ...wanted, action: reversalOf(wanted.action) };
    const candidates = undoable.length > 0 ? undoable : live;
    const pick = wanted.customer * 4 + wanted.purchase;
    const purchase = candidates[candidates.length - 1 - (pick % Math.max(1, candidates.length))];
    if (!purchase) return undefined;
    const customer = purchase.customer;
    const events = this.eventsOf(intent, purchase);
    if (!events || events.length === 0) return undefined;
    const withGrant = purchase.batch === this.batch;
    const made: ReversalEvent[] = events.map(({ type, body }) => ({
      kind: 'reversal',
      eventId: this.eventId(),
      type,
      customer,
      invoiceId: purchase.invoiceId,
      paid: purchase.paid,
      atMs: Number.NaN,
      body,
      referrer: purchase.referrer,
      withGrant,
    }));
    return {
      events: made,
      settle: (atMs) => {
        for (const event of made) settleTime(event, atMs);
      },
      // A spend alongside the grant itself could come before it: only alongside a reversal.
      ...(intent.spend !== null && !withGrant && { spend: { customer, amount: intent.spend } }),
    };
  }

  /** Money not gone back yet: Stripe never reverses more than was paid. */
  private left(purchase: PlannedPurchase): number {
    const refunded = purchase.refunds.filter((each) => each.status !== 'failed');
    const notes = purchase.notes.filter((each) => !each.voided);
    const disputes = purchase.disputes.filter((each) => !each.won);
    const gone = [...refunded, ...notes, ...disputes].reduce((sum, each) => sum + each.amount, 0);
    return Math.max(0, purchase.paid - gone);
  }

  private amountOf(intent: ReversalIntent, purchase: PlannedPurchase): number {
    const wanted = Math.max(1, Math.round((purchase.paid * intent.percent) / 100));
    return Math.min(wanted, this.left(purchase));
  }

  private eventsOf(
    intent: ReversalIntent,
    purchase: PlannedPurchase,
  ): { type: string; body: ReversalBody }[] | undefined {
    const n = purchase.refunds.length + purchase.notes.length + purchase.disputes.length;
    const id = (prefix: string) => `${prefix}_${purchase.invoiceId.replace(/^in_/, '')}_${n}`;
    switch (intent.action) {
      case 'refund': {
        const amount = this.amountOf(intent, purchase);
        if (amount === 0) return undefined;
        const refund: RefundFact = {
          id: id('re'),
          amount,
          status: intent.percent % 2 === 0 ? 'succeeded' : 'pending',
          createdMs: Number.NaN,
        };
        purchase.refunds.push(refund);
        return intent.vias.map((via) => this.refundSeen(via, refund, purchase));
      }
      case 'refundFails': {
        const refund = purchase.refunds.find((each) => each.status !== 'failed');
        if (!refund) return undefined;
        refund.status = 'failed';
        const failed = { ...refund };
        const via = intent.vias[0] === 'charge' ? 'charge' : 'failed';
        if (via === 'charge') return [this.chargeRefunded(purchase, intent.percent % 2 === 0)];
        const type = intent.percent % 2 === 0 ? 'refund.failed' : 'refund.updated';
        return [{ type, body: { kind: 'refund', refund: failed } }];
      }
      case 'creditNote': {
        const amount = this.amountOf(intent, purchase);
        if (amount === 0) return undefined;
        const note = { id: id('cn'), amount, voided: false };
        purchase.notes.push(note);
        return [
          {
            type: 'credit_note.created',
            body: { kind: 'note', noteId: note.id, amount, refunds: [] },
          },
        ];
      }
      case 'voidNote': {
        const note = purchase.notes.find((each) => !each.voided);
        if (!note) return undefined;
        note.voided = true;
        return [
          {
            type: 'credit_note.voided',
            body: { kind: 'note', noteId: note.id, amount: note.amount, refunds: [] },
          },
        ];
      }
      case 'dispute': {
        const amount = this.amountOf(intent, purchase);
        if (amount === 0) return undefined;
        const dispute = { id: id('dp'), amount, won: false };
        purchase.disputes.push(dispute);
        return disputeEvents(intent.disputeVia, dispute.id, amount, false);
      }
      case 'disputeWon': {
        const dispute = purchase.disputes.find((each) => !each.won);
        if (!dispute) return undefined;
        dispute.won = true;
        return disputeEvents(intent.disputeVia, dispute.id, dispute.amount, true);
      }
    }
  }

  private refundSeen(
    via: RefundVia,
    refund: RefundFact,
    purchase: PlannedPurchase,
  ): { type: string; body: ReversalBody } {
    switch (via) {
      case 'created':
        return { type: 'refund.created', body: { kind: 'refund', refund } };
      case 'updated':
        return { type: 'refund.updated', body: { kind: 'refund', refund: { ...refund } } };
      case 'charge':
      case 'chargeUnlisted':
        return this.chargeRefunded(purchase, via === 'charge');
      case 'note':
        return {
          type: 'credit_note.created',
          body: {
            kind: 'note',
            noteId: `cn_for_${refund.id}`,
            amount: refund.amount,
            refunds: [{ refundId: refund.id, amount: refund.amount }],
          },
        };
    }
  }

  /** `charge.refunded` lists every refund of the charge so far, as they stand now. */
  private chargeRefunded(purchase: PlannedPurchase, listed: boolean) {
    this.charges += 1;
    const refunds = purchase.refunds.map((each) => ({ ...each }));
    return {
      type: 'charge.refunded',
      body: { kind: 'charge' as const, refunds, listed, seq: this.charges },
    };
  }
}

/** Whether the purchase has a reversal that `action` undoes (true for an action that reverses). */
function canUndo(purchase: PlannedPurchase, action: ReversalAction): boolean {
  switch (action) {
    case 'refundFails':
      return purchase.refunds.some((each) => each.status !== 'failed');
    case 'voidNote':
      return purchase.notes.some((each) => !each.voided);
    case 'disputeWon':
      return purchase.disputes.some((each) => !each.won);
    default:
      return true;
  }
}

function reversalOf(action: ReversalAction): ReversalAction {
  if (action === 'refundFails') return 'refund';
  if (action === 'voidNote') return 'creditNote';
  if (action === 'disputeWon') return 'dispute';
  return action;
}

function disputeEvents(
  via: 'funds' | 'closed' | 'both',
  disputeId: string,
  amount: number,
  won: boolean,
): { type: string; body: ReversalBody }[] {
  const funds = {
    type: won ? 'charge.dispute.funds_reinstated' : 'charge.dispute.funds_withdrawn',
    body: {
      kind: 'dispute' as const,
      disputeId,
      amount,
      status: won ? ('won' as const) : ('needs_response' as const),
    },
  };
  const closed = {
    type: 'charge.dispute.closed',
    body: { kind: 'dispute' as const, disputeId, amount, status: won ? 'won' : ('lost' as const) },
  } as { type: string; body: ReversalBody };
  return via === 'funds' ? [funds] : via === 'closed' ? [closed] : [funds, closed];
}

/** The batch's time is known once the batch is planned: a new refund is created then. */
function settleTime(event: ReversalEvent, atMs: number): void {
  event.atMs = atMs;
  const body = event.body;
  const fresh = (refund: RefundFact) => {
    if (Number.isNaN(refund.createdMs)) refund.createdMs = atMs;
  };
  if (body.kind === 'refund') fresh(body.refund);
  if (body.kind === 'charge') body.refunds.forEach(fresh);
}

/** C22/C23: the reversals (or undoings) one event says, each by its natural key. */
export function factsOf(event: ReversalEvent): ReversalFactOf[] {
  const body = event.body;
  switch (body.kind) {
    case 'refund':
      return [{ key: `refund#${body.refund.id}`, amount: body.refund.amount, undo: failed(event) }];
    case 'charge':
      return body.refunds.map((refund) => ({
        key: `refund#${refund.id}`,
        amount: refund.amount,
        undo: refund.status === 'failed',
      }));
    case 'note': {
      const refunded = body.refunds.reduce((sum, each) => sum + each.amount, 0);
      if (event.type === 'credit_note.voided') {
        const rest = body.amount - refunded;
        return rest > 0 ? [{ key: `credit_note#${body.noteId}`, amount: rest, undo: true }] : [];
      }
      const facts = body.refunds.map((each) => ({
        key: `refund#${each.refundId}`,
        amount: each.amount,
        undo: false,
      }));
      if (body.amount > refunded) {
        facts.push({
          key: `credit_note#${body.noteId}`,
          amount: body.amount - refunded,
          undo: false,
        });
      }
      return facts;
    }
    case 'dispute':
      return [
        {
          key: `dispute#${body.disputeId}`,
          amount: body.amount,
          undo: body.status === 'won',
        },
      ];
  }
}

function failed(event: ReversalEvent): boolean {
  return event.body.kind === 'refund' && event.body.refund.status === 'failed';
}

/** The customers whose credits a reversal may change: the purchaser and the referrer (C24). */
export function customersOf(event: ReversalEvent): number[] {
  return event.referrer === undefined ? [event.customer] : [event.customer, event.referrer];
}

/**
 * Whether a reversal and another event must keep to separate parts: the reversal judges the
 * customer's lots at its time (C22), so what it takes from (and what is debt, C23) depends on
 * whether the customer's other events were processed first. Its own purchase's grant may share
 * the part (C16: the reversal then waits for it, pending).
 */
export function reversalConflicts(
  a: { kind: string; customer: number; invoiceId?: string | null },
  b: { kind: string; customer: number; invoiceId?: string | null },
): boolean {
  if (a.kind === 'reversal' && b.kind !== 'reversal') return clash(a as ReversalEvent, b);
  if (b.kind === 'reversal' && a.kind !== 'reversal') return clash(b as ReversalEvent, a);
  return false;
}

function clash(reversal: ReversalEvent, other: { customer: number; invoiceId?: string | null }) {
  if (!customersOf(reversal).includes(other.customer)) return false;
  return !(reversal.withGrant && other.invoiceId === reversal.invoiceId);
}

const iso = (ms: number) => new Date(ms).toISOString().replace(':00.000Z', 'Z');

export function describeReversal(event: ReversalEvent): string {
  const body = event.body;
  const of = `of ${event.invoiceId} (c${event.customer}, paid ${event.paid})`;
  switch (body.kind) {
    case 'refund':
      return `${event.type} ${body.refund.id} ${body.refund.amount} ${body.refund.status} ${of} at ${iso(event.atMs)}`;
    case 'charge': {
      const list = body.refunds.map((each) => `${each.id} ${each.amount} ${each.status}`);
      return `charge.refunded${body.listed ? '' : ' (refunds read from Stripe)'} [${list.join(', ')}] ${of}`;
    }
    case 'note':
      return `${event.type} ${body.noteId} ${body.amount}${body.refunds.length > 0 ? ` = refund ${body.refunds[0]?.refundId}` : ''} ${of}`;
    case 'dispute':
      return `${event.type} ${body.disputeId} ${body.amount} ${body.status} ${of} at ${iso(event.atMs)}`;
  }
}
