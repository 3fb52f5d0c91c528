import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackfillHandler } from '../../functions/backfill';
import { createCreditsHandler } from '../../functions/credits';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { runRollover } from '../../lib/jobs/rollover';
import type { LedgerDeps } from '../../lib/ledger/deps';
import { createLogger } from '../../lib/log';
import type { StoreDeps } from '../../lib/store/client';
import { processDepsFromConfig, webhookDepsFromConfig } from '../../lib/stripe/deps';
import { stripeListing } from '../support/delivery-first-purchase';
import {
  type AbstractHistory,
  type Copies,
  grantsTo,
  historyArbitrary,
  PACK_PRICE_ID,
  type Part,
  type PartSpend,
  PLAN_CREDITS,
  PLAN_INTERVAL_MONTHS,
  type Plan,
  type PlannedEvent,
  type PlannedReferral,
  type PlannedStep,
  planHistory,
  UNIT_AMOUNT_CENTS,
} from '../support/delivery-model';
import { expectedAfter, ReversalBook, type Seen, seenOf } from '../support/delivery-reversal-book';
import {
  customersOf,
  factsOf,
  type RefundFact,
  type ReversalEvent,
} from '../support/delivery-reversals';
import { isUpgradeEvent } from '../support/delivery-upgrades';
import {
  plainAmount,
  prorationSpecs,
  upgradeBody,
  upgradeFacts,
} from '../support/delivery-upgrades-events';
import { UpgradesModel } from '../support/delivery-upgrades-reference';
import { monthsAfter, monthsSpanned, threeMonthsAfter } from '../support/model';
import {
  chargeOf,
  chargeRefundedEvent,
  creditNoteEvent,
  disputeEvent,
  refundEvent,
  refundObject,
} from '../support/reversal-events';
import { propertySeed } from '../support/seed';
import {
  paidInvoiceEvent,
  signedApiGatewayEvent,
  subscriptionDeletedEvent,
  subscriptionUpdatedEvent,
  TEST_WEBHOOK_SECRET,
} from '../support/stripe-events';
import { type StripeFake, startStripeFake } from '../support/stripe-fake';
import { freshTable } from '../support/table';

/**
 * System-level model-based test (C16): random histories of several customers (subscriptions,
 * monthly or annual (C20), some starting with a $0 trial (C18), plan changes billed as prorations
 * at once or with the next renewal (C19), packs bought on manual invoices or through Checkout
 * (C21), renewals (an annual plan's a year on, around its end, test/support/delivery-annual.ts),
 * referrals, cancellations, refunds, failed refunds, credit notes and disputes
 * (C22-C24), spends, expiry runs, replays and clock moves) go through
 * the real functions on DynamoDB Local: Stripe events through the signed webhook handler (API
 * Gateway v2 events), each delivered 1 to 3 times, shuffled, some deliveries concurrently;
 * spends and referral codes through the `credits` function; expiry through the rollover job;
 * replays through the backfill function. The reference model of test/support/delivery-model.ts
 * processes every event once, in the plan's order (knowing, as lib/ does, every purchase the
 * fake Stripe API lists: C10). After every step each customer's balance
 * and live lots must equal the model's, every spend must answer what the model answers, and
 * the `credits` audit must find no C14 problem. A customer a reversal changed is checked from
 * then on by what the rules fix rather than lot by lot (test/support/delivery-reversal-book.ts);
 * the fake Stripe API serves the invoice payments and refund lists the reversals read.
 *
 * Concurrency is deterministic: the deliveries of a wave share DynamoDB Local through a client
 * whose every call waits at a gate of fast-check's scheduler, and only one call is released at
 * a time, when every delivery of the wave is either finished or waiting at a gate. So the
 * deliveries interleave at the granularity of DynamoDB calls (both read, one writes, the other
 * loses its condition and retries...), in an order drawn from the seed, and a failing run
 * replays exactly from DELIVERY_SEED (and DELIVERY_PATH). Simultaneity inside DynamoDB itself is
 * DynamoDB's atomicity, not ours, and is left to the fault and hot-customer tests.
 *
 * DELIVERY_RUNS sets the number of histories (default 200), DELIVERY_SEED and DELIVERY_PATH
 * replay one. Under CI the seed is fixed (test/support/seed.ts).
 */
const RUNS = Number(process.env.DELIVERY_RUNS ?? 200);
const SEED = propertySeed('DELIVERY_SEED');
const PATH = process.env.DELIVERY_PATH;
const MAX_STEPS = 10;
/** A history takes a few hundred ms; the rest is room for a loaded machine and for shrinking. */
const TIMEOUT_MS = 120_000 + RUNS * 1_500;

type Db = StoreDeps['db'];

/**
 * C19/C21: Stripe as lib/ reads it: a Checkout Session's line items, and a monthly Price's
 * interval, which PLAN_INTERVAL_MONTHS does not give and a proration needs (lib/stripe/catalog.ts).
 * C10/C16: every invoice delivered so far or in the part being delivered, so that a paid renewal
 * delivered before its $0 start can ask whether it is its subscription's first paid invoice.
 * C24: invoice payments and a charge's refunds, as the reversals need them.
 */
let fake: StripeFake;
let stripe: { stripeApiBase: string; stripeSecretKey: string };
const recurring = (interval: string) => ({
  unit_amount: UNIT_AMOUNT_CENTS,
  recurring: { interval, interval_count: 1 },
});
const STRIPE_PRICES = {
  prices: Object.fromEntries(
    Object.entries(PLAN_CREDITS).map(([id, credits]) => [id, { credits: String(credits) }]),
  ),
  priceDetails: {
    price_basic: recurring('month'),
    price_pro: recurring('month'),
    price_yearly: recurring('year'),
  },
};
type CreditsAnswer = Record<string, unknown>;

const quiet = createLogger({ sink: () => {} });
const lambdaContext = { getRemainingTimeInMillis: () => 900_000 } as Context;
const iso = (ms: number) => new Date(ms).toISOString();
const seconds = (ms: number) => Math.floor(ms / 1000);
const CODE_FORMAT = /^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/;
type View = { balance: number; debt: number; upcoming: { granted: number }[] };

/** A document client whose every call first waits at `gate` (named after the operation). */
function gatedDb(db: Db, gate: (operation: string) => Promise<void>): Db {
  const send = async (command: object, ...rest: unknown[]) => {
    await gate(command.constructor.name.replace(/Command$/, ''));
    return (db.send as (...args: unknown[]) => Promise<unknown>)(command, ...rest);
  };
  return new Proxy(db, {
    get: (target, property, receiver) =>
      property === 'send' ? send : Reflect.get(target, property, receiver),
  });
}

/**
 * Runs the tasks concurrently against `db`, releasing one DynamoDB call at a time in the
 * scheduler's order, and only once every task is finished or waiting for its next call, so
 * that the same seed always gives the same interleaving (a task backing off after a lost race
 * is still running: the others wait for it rather than for a timer).
 */
async function interleave<T>(
  scheduler: fc.Scheduler,
  db: Db,
  tasks: readonly { label: string; run: (db: Db) => Promise<T> }[],
): Promise<T[]> {
  const state: ('running' | 'waiting' | 'done')[] = tasks.map(() => 'running');
  let wake: () => void = () => {};
  const results = tasks.map((task, i) => {
    const gate = async (operation: string) => {
      // A delivery makes its DynamoDB calls one at a time; two at once would hang the driver.
      if (state[i] === 'waiting') throw new Error(`${task.label} made two DynamoDB calls at once`);
      state[i] = 'waiting';
      wake();
      await scheduler.schedule(Promise.resolve(), `${task.label} ${operation}`, undefined, (go) => {
        state[i] = 'running';
        return go();
      });
    };
    return task.run(gatedDb(db, gate)).finally(() => {
      state[i] = 'done';
      wake();
    });
  });
  for (;;) {
    while (state.includes('running')) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    if (state.every((each) => each === 'done')) break;
    await scheduler.waitNext(1);
  }
  return Promise.all(results);
}

/**
 * A fresh fast-check scheduler drawn from `seed`. fast-check's own `fc.scheduler()` value is
 * cloned for every rerun, but its clones share one random stream (fast-check 4.10), so a run
 * replayed by DELIVERY_PATH would interleave differently from the run that failed; a scheduler
 * built anew from a generated seed interleaves the same way every time it is rebuilt.
 */
function schedulerFrom(seed: number): fc.Scheduler {
  const [scheduler] = fc.sample(fc.scheduler(), { seed, numRuns: 1 });
  if (!scheduler) throw new Error('fc.sample gave no scheduler');
  return scheduler;
}

/** A failure's message with the order in which the concurrent deliveries' calls were let through. */
function withInterleaving(error: unknown, scheduler: fc.Scheduler): unknown {
  if (!(error instanceof Error) || scheduler.report().length === 0) return error;
  error.message += `\nConcurrent deliveries' DynamoDB calls, in the order they were let through:\n${String(scheduler)}`;
  return error;
}

/** One history against one DynamoDB table and one model, step by step. */
class HistoryRun {
  private nowMs: number;
  private readonly model = new UpgradesModel(PLAN_CREDITS, PLAN_INTERVAL_MONTHS, PACK_PRICE_ID);
  private readonly codes = new Map<number, string>();
  private readonly bodies = new Map<string, Record<string, unknown>>();
  private readonly ledger: LedgerDeps;
  private readonly creditsHandler;
  /** C22-C24: what the rules fix about money going back (delivery-reversal-book.ts). */
  private readonly book = new ReversalBook();
  /** Customers a reversal changed: compared by what the rules fix, no longer lot by lot. */
  private readonly loose = new Set<string>();
  /** Customers whose own purchase lost credits (C24: nobody else ever owes). */
  private readonly owing = new Set<string>();
  /** A spend's first successful answer, by key (C15: a retry returns it). */
  private readonly spent = new Map<string, unknown>();
  /** Charge id -> the newest refund list the fake Stripe serves for it. */
  private readonly refundLists = new Map<string, number>();

  constructor(
    private readonly plan: Plan,
    private readonly table: StoreDeps,
    private readonly scheduler: fc.Scheduler,
    /** Makes this run's ids its own: one table serves every history of the file. */
    private readonly suffix: string,
  ) {
    this.nowMs = plan.startMs;
    this.ledger = { ...table, clock: () => this.nowMs };
    this.creditsHandler = createCreditsHandler(() => this.ledger);
  }

  customerId(n: number): string {
    return `cus_${this.suffix}_c${n}`;
  }

  private scoped(id: string): string {
    return `${id}_${this.suffix}`;
  }

  private async credits(request: Record<string, unknown>): Promise<CreditsAnswer> {
    return (await this.creditsHandler(request, lambdaContext)) as CreditsAnswer;
  }

  async run(): Promise<void> {
    const everyone = Array.from({ length: this.plan.customers }, (_, n) => n);
    for (const [index, step] of this.plan.steps.entries()) {
      await this.step(step, index);
      const { shown, written } = affected(step, everyone);
      await this.compare(`after #${index}`, { shown, written, expiryRan: step.kind === 'expire' });
    }
    // Finally the expiry job runs for now, and C14 must hold in its strong form.
    await this.expire();
    await this.compare('after the final expiry run', {
      shown: everyone,
      written: everyone,
      expiryRan: true,
    });
  }

  private async step(step: PlannedStep, index: number): Promise<void> {
    switch (step.kind) {
      case 'deliver':
        this.nowMs = step.atMs;
        for (const [p, part] of step.parts.entries()) {
          await this.deliverPart(part, `#${index}.${p + 1}`);
        }
        return;
      case 'spend': {
        const customerId = this.customerId(step.customer);
        const before = this.loose.has(customerId) ? await this.view(customerId) : undefined;
        const real = await this.credits({
          action: 'consume',
          customerId,
          amount: step.amount,
          idempotencyKey: step.key,
        });
        this.expectSpend(customerId, step, real, before, `#${index}'s spend`);
        return;
      }
      case 'expire':
        return this.expire();
      case 'clock':
        this.nowMs = step.toMs;
        return;
      case 'referralCode':
        return this.referralCode(step.customer);
      case 'replay':
        return this.replay(step.events, index);
    }
  }

  private async view(customerId: string): Promise<CreditsAnswer & View> {
    return (await this.credits({ action: 'balance', customerId })) as CreditsAnswer & View;
  }

  /**
   * C15: the model's answer while it follows the customer lot by lot; once a reversal changed
   * the customer, the answer the balance just before it fixes.
   */
  private expectSpend(
    customerId: string,
    spend: { amount: number; key: string },
    real: CreditsAnswer,
    before: View | undefined,
    what: string,
  ): void {
    const first = this.spent.get(spend.key);
    if (first !== undefined) expect(real, `C15 retried ${what}`).toEqual(first);
    else if (!before) {
      const expected = this.model.consume(customerId, spend.amount, spend.key, this.nowMs);
      expect(real, `C15 outcome of ${what}`).toEqual(expected);
    } else {
      expect(real, `C15 outcome of ${what}`).toEqual(
        spend.amount <= before.balance
          ? { ok: true, balance: before.balance - spend.amount }
          : { ok: false, error: 'insufficient_credits', balance: before.balance },
      );
    }
    if (real.ok === true) this.spent.set(spend.key, real);
  }

  /** C9: created once, the same on every later request, 10 unambiguous characters. */
  private async referralCode(customer: number): Promise<void> {
    const { code } = await this.credits({
      action: 'referralCode',
      customerId: this.customerId(customer),
    });
    expect(code).toMatch(CODE_FORMAT);
    const known = this.codes.get(customer);
    if (known !== undefined) expect(code, `C9 the same code for c${customer}`).toBe(known);
    this.codes.set(customer, code as string);
    this.model.registerCode(this.customerId(customer), code as string);
  }

  private async expire(): Promise<void> {
    const report = await runRollover(this.ledger, { nowMs: this.nowMs, logger: quiet });
    expect(report, 'C6 the expiry run finishes without errors').toMatchObject({
      errors: 0,
      complete: true,
    });
    for (let n = 0; n < this.plan.customers; n++) {
      this.model.expire(this.customerId(n), this.nowMs);
    }
  }

  /** C17: replaying what was delivered applies nothing new. */
  private async replay(events: readonly PlannedEvent[], index: number): Promise<void> {
    const deps = processDepsFromConfig(
      { planCredits: PLAN_CREDITS, planIntervalMonths: PLAN_INTERVAL_MONTHS, ...stripe },
      this.ledger,
      quiet,
    );
    const backfill = createBackfillHandler(() => deps);
    const report = await backfill({ events: events.map((e) => this.body(e)) }, lambdaContext);
    expect(report, `C17 the replay of #${index} applies nothing`).toMatchObject({
      processed: events.length,
      applied: 0,
      failed: 0,
    });
  }

  /**
   * Delivers the part's events as planned (with the spends that run alongside), then lets the
   * model process each once, in order, and checks what the part's reversals must have done.
   */
  private async deliverPart(part: Part, label: string): Promise<void> {
    for (const event of part.events) this.publish(event);
    const reversals = part.events.filter((event) => event.kind === 'reversal');
    const lossesBefore = new Map(
      reversals.map((event) => [
        this.scoped(event.invoiceId),
        this.book.losses(this.scoped(event.invoiceId)),
      ]),
    );
    const involved = this.involved(part, reversals);
    const before = new Map<string, Seen>();
    for (const customerId of involved) {
      // Another event of the customer's in the part, or a redemption of their code (C11: the
      // referrer's bonus) by an invoice, a plan change or a Checkout pack, changes their
      // credits besides the reversals.
      const others = part.events.some((event) =>
        grantsTo(event, (n) => this.customerId(n) === customerId),
      );
      if (this.loose.has(customerId) && !others) {
        before.set(customerId, seenOf(await this.view(customerId)));
      }
    }
    const answers = new Map<PartSpend, CreditsAnswer>();
    for (const [w, wave] of part.waves.entries()) {
      const deliveries = wave.map((delivery) => ({
        label: `${label} e${delivery.event}/${delivery.copy + 1}`,
        run: async (db: Db) => {
          const response = await this.post(part.events[delivery.event] as PlannedEvent, db);
          expect(
            { status: response.statusCode, body: JSON.parse(response.body ?? 'null') },
            `delivery ${label} e${delivery.event}/${delivery.copy + 1}`,
          ).toMatchObject({ status: 200, body: { received: true } });
        },
      }));
      const spends = (part.spends ?? [])
        .filter((spend) => spend.wave === w)
        .map((spend) => ({
          label: `${label} spend ${spend.key}`,
          run: async (db: Db) => {
            answers.set(spend, await this.consumeWith(db, spend));
          },
        }));
      const tasks = [...deliveries, ...spends];
      if (tasks.length === 1) await (tasks[0] as (typeof tasks)[number]).run(this.table.db);
      else await interleave(this.scheduler, this.table.db, tasks);
    }
    for (const event of part.events) this.apply(event);
    if (involved.size > 0) await this.checkReversals(part, involved, lossesBefore, before, answers);
  }

  /** The customers whose credits the part's reversals or spends may change. */
  private involved(part: Part, reversals: readonly ReversalEvent[]): Set<string> {
    return new Set([
      ...reversals.flatMap((event) => customersOf(event).map((n) => this.customerId(n))),
      ...(part.spends ?? []).map((spend) => this.customerId(spend.customer)),
    ]);
  }

  private async consumeWith(db: Db, spend: PartSpend): Promise<CreditsAnswer> {
    const handler = createCreditsHandler(() => ({ ...this.ledger, db }));
    const request = {
      action: 'consume',
      customerId: this.customerId(spend.customer),
      amount: spend.amount,
      idempotencyKey: spend.key,
    };
    return (await handler(request, lambdaContext)) as CreditsAnswer;
  }

  /** The model's view of a customer it still follows lot by lot (who never owes, C23). */
  private modelSeen(customerId: string): Seen {
    const upcoming = this.model.upcomingLots(customerId, this.nowMs);
    return seenOf({ balance: this.model.balance(customerId, this.nowMs), debt: 0, upcoming });
  }

  /**
   * C22-C24 after a part: each involved customer's credits (balance + upcoming) less debt moved
   * by what the part's reversals must take or give back, the debt is what the take-backs could
   * not find, the referrer never owes, and a concurrent spend was served as one of its orders
   * allows (C15, C16). A customer a reversal changed is then followed by these rules only.
   */
  private async checkReversals(
    part: Part,
    involved: ReadonlySet<string>,
    lossesBefore: ReadonlyMap<string, { own: number; referrer: number }>,
    before: ReadonlyMap<string, Seen>,
    answers: ReadonlyMap<PartSpend, CreditsAnswer>,
  ): Promise<void> {
    const changes = this.book.changes(lossesBefore, this.nowMs);
    // Customers whose credits a reversal of the part may have moved, even if back again.
    const moved = new Set<string>();
    // A take-back and an undo in one part after the purchase's lots expired: the undo gives
    // back only debt, so what the take found elsewhere is gone, by an amount the net hides.
    const unsure = new Set<string>();
    // A take-back and its undo in one part: a concurrent spend may have seen the low between.
    const undoing = new Set<string>();
    const undone = new Set(
      part.events
        .filter((event): event is ReversalEvent => event.kind === 'reversal')
        .filter((event) => factsOf(event).some((fact) => fact.undo))
        .map((event) => this.scoped(event.invoiceId)),
    );
    for (const purchaseId of lossesBefore.keys()) {
      const parties = this.book.partiesOf(purchaseId);
      const may = this.book.mayHaveMoved(purchaseId);
      if (!parties) continue;
      if (may.own) moved.add(parties.customerId);
      if (may.referrer && parties.referrerId !== undefined) moved.add(parties.referrerId);
      if (undone.has(purchaseId)) undoing.add(parties.customerId);
      if (undone.has(purchaseId) && this.book.expiredAt(purchaseId, this.nowMs)) {
        unsure.add(parties.customerId);
      }
    }
    for (const customerId of involved) {
      const mine = changes.filter(
        (change) =>
          change.customerId === customerId ||
          (change.referrerId === customerId && change.referrer !== 0),
      );
      const spends = (part.spends ?? []).filter(
        (spend) => this.customerId(spend.customer) === customerId,
      );
      const exact = !this.loose.has(customerId);
      // Before the spends: the model's state is the customer's, or the real one was read.
      const baseline = before.get(customerId) ?? (exact ? this.modelSeen(customerId) : undefined);
      if (exact && !moved.has(customerId)) {
        for (const spend of spends) {
          this.expectSpend(
            customerId,
            spend,
            answers.get(spend) ?? {},
            undefined,
            `spend ${spend.key}`,
          );
        }
        continue;
      }
      let spent = 0;
      for (const spend of spends) {
        const answer = answers.get(spend) ?? {};
        if (answer.ok === true) {
          spent += spend.amount;
          this.spent.set(spend.key, answer);
        } else
          expect(answer, `C15 spend ${spend.key}`).toMatchObject({
            ok: false,
            error: 'insufficient_credits',
          });
      }
      if (!baseline || unsure.has(customerId)) continue;
      const seen = seenOf(await this.view(customerId));
      const expected = expectedAfter(customerId, baseline, changes, spent);
      // C19 C22: a reversal Stripe made before a downgrade delivered first takes the cut first.
      const cutFirst = part.events
        .filter((event): event is ReversalEvent => event.kind === 'reversal')
        .filter((event) => this.customerId(event.customer) === customerId)
        .reduce(
          (most, event) => Math.max(most, this.model.cutAtOrAfter(customerId, event.atMs)),
          0,
        );
      const what = `of ${customerId} after ${JSON.stringify(mine)} from ${JSON.stringify(baseline)}, spent ${spent}: ${JSON.stringify(seen)}`;
      const net = seen.balance + seen.upcoming - seen.debt;
      expect(net, `C22 C24 credits less debt ${what}`).toBeGreaterThanOrEqual(expected.netLow);
      expect(net, `C22 C24 credits less debt ${what}`).toBeLessThanOrEqual(
        expected.netHigh + cutFirst,
      );
      if (expected.debt && cutFirst > 0) {
        // What it takes of the cut it does not owe: the debt is at most that much less.
        expect(seen.debt, `C19 C23 debt ${what}`).toBeLessThanOrEqual(Math.max(...expected.debt));
        expect(seen.debt, `C19 C23 debt ${what}`).toBeGreaterThanOrEqual(
          Math.min(...expected.debt) - cutFirst,
        );
      } else if (expected.debt) expect(expected.debt, `C23 C24 debt ${what}`).toContain(seen.debt);
      const takesOnly =
        !undoing.has(customerId) && mine.every((change) => change.own >= 0 && change.referrer >= 0);
      for (const spend of spends) {
        if (!takesOnly) break;
        // C15/C16: served before the take-backs or after them, never beyond a balance.
        if (answers.get(spend)?.ok === true)
          expect(spend.amount).toBeLessThanOrEqual(baseline.balance);
        else expect(spend.amount, `C15 refused spend ${spend.key}`).toBeGreaterThan(seen.balance);
      }
    }
    for (const purchaseId of lossesBefore.keys()) this.loosen(purchaseId);
  }

  /** From now on the purchase's parties are followed by the rules, if a reversal moved credits. */
  private loosen(purchaseId: string): void {
    const parties = this.book.partiesOf(purchaseId);
    const moved = this.book.mayHaveMoved(purchaseId);
    if (!parties) return;
    if (moved.own) {
      this.loose.add(parties.customerId);
      this.owing.add(parties.customerId);
    }
    if (moved.referrer && parties.referrerId !== undefined) this.loose.add(parties.referrerId);
  }

  /**
   * The invoice or Checkout Session an event carries, listed by Stripe's API from now on (C10:
   * a trial's paid invoices, a customer's purchases). A Session is listed as it last changed
   * (paid once its asynchronous payment succeeded), with the `created` its events all carry;
   * a paid Session that created an invoice brings that invoice into the lists with it, as
   * Stripe has it from then on. Keyed by its own id: refunds find their purchase otherwise.
   */
  private publish(event: PlannedEvent): void {
    if (event.kind === 'end' || event.kind === 'trouble' || event.kind === 'reversal') return;
    const object = this.objectOf(event);
    if (object.object === 'invoice') fake.invoices.set(String(object.id), object);
    else fake.checkoutSessions.set(String(object.id), object);
    if (event.kind === 'checkout' && event.invoiceId !== null && event.paid) {
      const invoice = this.objectOf({
        ...event,
        type: 'invoice.paid',
        eventId: `${event.eventId}i`,
      });
      fake.invoices.set(String(invoice.id), invoice);
    }
    // C10/C16: the model reads the customer's purchases as Stripe lists them to lib/.
    const listed = stripeListing(event);
    if (listed) {
      const customerId = this.customerId(event.customer);
      this.model.listedByStripe(customerId, this.scoped(listed.purchaseId), listed.atSeconds);
    }
  }

  private objectOf(event: PlannedEvent): Record<string, unknown> {
    return (this.body(event).data as { object: Record<string, unknown> }).object;
  }

  /** One delivery through the real webhook handler, signed at the current time. */
  private async post(event: PlannedEvent, db: Db): Promise<APIGatewayProxyStructuredResultV2> {
    const deps = webhookDepsFromConfig(
      {
        planCredits: PLAN_CREDITS,
        planIntervalMonths: PLAN_INTERVAL_MONTHS,
        webhookSecrets: [TEST_WEBHOOK_SECRET],
        ...stripe,
      },
      { db, tableName: this.table.tableName, clock: () => this.nowMs },
      quiet,
    );
    const handler = createStripeWebhookHandler(() => deps);
    const request = signedApiGatewayEvent(this.body(event), { timestamp: seconds(this.nowMs) });
    return handler(request, lambdaContext);
  }

  private typedCode(referral: PlannedReferral | null): string | null {
    if (!referral) return null;
    if (referral.kind === 'literal') return referral.code;
    const code = this.codes.get(referral.customer);
    if (code === undefined) throw new Error(`c${referral.customer} has no code yet`);
    if (referral.typed === 'lower') return code.toLowerCase();
    if (referral.typed === 'compact') return code.replace('-', '');
    return code;
  }

  /** The Stripe event as Stripe sends it; built once, so that every copy is the same bytes. */
  private body(event: PlannedEvent): Record<string, unknown> {
    const known = this.bodies.get(event.eventId);
    if (known) return known;
    if (isUpgradeEvent(event)) {
      const upgrade = upgradeBody(event, {
        scoped: (id) => this.scoped(id),
        customerId: (n) => this.customerId(n),
        typedCode: (referral) => this.typedCode(referral),
        checkoutLines: fake.checkoutLines,
      });
      this.bodies.set(event.eventId, upgrade);
      return upgrade;
    }
    if (event.kind === 'reversal') {
      const reversal = this.reversalBody(event);
      this.bodies.set(event.eventId, reversal);
      return reversal;
    }
    const common = {
      eventId: this.scoped(event.eventId),
      customerId: this.customerId(event.customer),
      subscriptionId: this.scoped(event.subscriptionId),
    };
    let built: Record<string, unknown>;
    if (event.kind === 'invoice' || event.kind === 'pack') {
      this.paidBy(common.customerId, this.scoped(event.invoiceId), event.amountPaid);
    }
    if (event.kind === 'invoice') {
      const code = this.typedCode(event.referral);
      built = paidInvoiceEvent({
        ...common,
        type: event.type,
        invoiceId: this.scoped(event.invoiceId),
        billingReason: event.billingReason,
        metadata: code === null ? {} : { referral_code: code },
        amountPaid: event.amountPaid,
        lines: [
          {
            priceId: event.priceId,
            quantity: event.quantity,
            unitAmount: UNIT_AMOUNT_CENTS,
            amount: plainAmount(event),
            periodStart: seconds(event.periodStartMs),
            periodEnd: seconds(event.periodEndMs),
            lineId: this.scoped(event.lineId),
          },
          ...prorationSpecs(event.prorations ?? [], (id) => this.scoped(id)),
        ],
      });
    } else if (event.kind === 'pack') {
      built = paidInvoiceEvent({
        ...common,
        type: event.type,
        invoiceId: this.scoped(event.invoiceId),
        billingReason: 'manual',
        amountPaid: event.amountPaid,
        paidAt: seconds(event.paidAtMs),
        lines: [
          {
            kind: 'invoice_item',
            priceId: PACK_PRICE_ID,
            quantity: event.quantity,
            periodStart: seconds(event.paidAtMs),
            unitAmount: UNIT_AMOUNT_CENTS,
            lineId: this.scoped(event.lineId),
          },
        ],
      });
    } else if (event.kind === 'end') {
      const endedAt = seconds(event.endedAtMs);
      built =
        event.type === 'customer.subscription.deleted'
          ? subscriptionDeletedEvent({ ...common, endedAt })
          : subscriptionUpdatedEvent({
              ...common,
              status: 'canceled',
              endedAt,
              canceledAt: endedAt,
            });
    } else {
      built = subscriptionUpdatedEvent({
        ...common,
        status: event.status,
        cancelAtPeriodEnd: event.cancelAtPeriodEnd,
        eventCreated: seconds(this.nowMs),
      });
    }
    this.bodies.set(event.eventId, built);
    return built;
  }

  /** C24: Stripe's invoice payments know which invoice a payment intent paid. */
  private paidBy(customerId: string, invoiceId: string, amount: number): void {
    if (amount > 0) fake.invoicePayments.set(`pi_${invoiceId}`, { invoiceId, customerId, amount });
  }

  /** A refund, refunded charge, credit note or dispute as Stripe sends it (C22-C24). */
  private reversalBody(event: ReversalEvent): Record<string, unknown> {
    const invoiceId = this.scoped(event.invoiceId);
    const customerId = this.customerId(event.customer);
    const paymentIntentId = `pi_${invoiceId}`;
    this.paidBy(customerId, invoiceId, event.paid);
    const created = seconds(event.atMs);
    const refund = (fact: RefundFact) =>
      refundObject({
        paymentIntentId,
        id: this.scoped(fact.id),
        amount: fact.amount,
        status: fact.status,
        created: seconds(fact.createdMs),
      });
    const body = event.body;
    switch (body.kind) {
      case 'refund':
        return refundEvent(event.type, refund(body.refund), created);
      case 'charge': {
        const refunds = body.refunds.map(refund);
        // What GET /v1/refunds answers: the newest list (a refund's status as it is now).
        const charge = chargeOf(paymentIntentId);
        if ((this.refundLists.get(charge) ?? 0) < body.seq) {
          this.refundLists.set(charge, body.seq);
          fake.refunds.set(charge, refunds);
        }
        return chargeRefundedEvent({
          paymentIntentId,
          paid: event.paid,
          refunds,
          listed: body.listed,
          created,
        });
      }
      case 'note':
        return creditNoteEvent({
          invoiceId,
          customerId,
          amount: body.amount,
          refunds: body.refunds.map((each) => ({
            refundId: this.scoped(each.refundId),
            amount: each.amount,
          })),
          id: this.scoped(body.noteId),
          type: event.type,
          created,
        });
      case 'dispute':
        return disputeEvent(event.type, {
          id: this.scoped(body.disputeId),
          paymentIntentId,
          amount: body.amount,
          status: body.status,
          created,
        });
    }
  }

  /** The model reads the same Stripe facts, once. */
  private apply(event: PlannedEvent): void {
    const customerId = this.customerId(event.customer);
    if (event.kind === 'reversal') {
      this.book.apply(this.scoped(event.invoiceId), event);
      return;
    }
    if (isUpgradeEvent(event) || (event.kind === 'invoice' && event.prorations)) {
      upgradeFacts(this.model, event, {
        customerId,
        scoped: (id) => this.scoped(id),
        typedCode: (referral) => this.typedCode(referral),
        nowMs: this.nowMs,
      });
    } else if (event.kind === 'invoice') {
      this.model.invoicePaid(
        {
          customerId,
          invoiceId: this.scoped(event.invoiceId),
          subscriptionId: this.scoped(event.subscriptionId),
          billingReason: event.billingReason,
          createdMs: event.periodStartMs,
          amountPaid: event.amountPaid,
          lines: [
            {
              lineId: this.scoped(event.lineId),
              priceId: event.priceId,
              quantity: event.quantity,
              periodStartMs: event.periodStartMs,
              periodEndMs: event.periodEndMs,
            },
          ],
          referralCode: this.typedCode(event.referral),
        },
        this.nowMs,
      );
    } else if (event.kind === 'pack') {
      this.model.packPaid(
        {
          customerId,
          invoiceId: this.scoped(event.invoiceId),
          priceId: PACK_PRICE_ID,
          quantity: event.quantity,
          paidAtMs: event.paidAtMs,
          amountPaid: event.amountPaid,
        },
        this.nowMs,
      );
    } else if (event.kind === 'end') {
      this.model.subscriptionEnded(
        {
          customerId,
          subscriptionId: this.scoped(event.subscriptionId),
          endedAtMs: event.endedAtMs,
        },
        this.nowMs,
      );
    }
    if (event.kind === 'invoice' || event.kind === 'pack') this.bookPurchase(event);
  }

  /** C22: what a purchase with money paid granted, for its reversals; after the model's grant. */
  private bookPurchase(event: PlannedEvent & { kind: 'invoice' | 'pack' }): void {
    if (event.amountPaid <= 0) return;
    const invoiceId = this.scoped(event.invoiceId);
    const customerId = this.customerId(event.customer);
    const bonus = this.model.bonuses.get(invoiceId);
    const purchase = {
      customerId,
      paid: event.amountPaid,
      bonus: bonus?.bonus ?? 0,
      referrerId: bonus?.referrerId,
    };
    if (event.kind === 'pack') {
      const credits = (PLAN_CREDITS[PACK_PRICE_ID] ?? 0) * event.quantity;
      this.book.granted(invoiceId, {
        ...purchase,
        credits,
        expiresAtMs: monthsAfter(event.paidAtMs, 12),
      });
      return;
    }
    const months = monthsSpanned(event.periodStartMs, event.periodEndMs);
    // C19: a renewal that bills a plan change's prorations grants their top-up too.
    const topUp = Math.max(0, this.model.prorated(event.prorations ?? []));
    this.book.granted(invoiceId, {
      ...purchase,
      credits: (PLAN_CREDITS[event.priceId] ?? 0) * event.quantity * months + topUp,
      expiresAtMs: threeMonthsAfter(monthsAfter(event.periodStartMs, months - 1)),
    });
  }

  private expectRules(view: CreditsAnswer & View, who: string): void {
    expectRulesOf(view, this.owing.has(view.customerId as string), who);
  }

  /**
   * Balance and live lots as the model says for the customers a step may show differently
   * (every one once the clock moved), and no C14 problem for those it may have written.
   */
  private async compare(
    when: string,
    check: { shown: readonly number[]; written: readonly number[]; expiryRan: boolean },
  ): Promise<void> {
    for (const n of check.shown) {
      const customerId = this.customerId(n);
      const view = await this.credits({ action: 'balance', customerId });
      if (this.loose.has(customerId)) {
        this.expectRules(view as CreditsAnswer & View, `c${n} ${when}`);
        continue;
      }
      expect(view, `C3 C5 C7 C8 C11 C12 balance and live lots of c${n} ${when}`).toEqual({
        customerId,
        balance: this.model.balance(customerId, this.nowMs),
        held: 0,
        // Nobody a reversal has not changed ever owes (C23).
        debt: 0,
        lots: this.model.liveLots(customerId, this.nowMs),
        upcoming: this.model.upcomingLots(customerId, this.nowMs),
      });
    }
    for (const n of check.written) {
      const audit = await this.credits({
        action: 'audit',
        customerId: this.customerId(n),
        ...(check.expiryRan && { now: iso(this.nowMs) }),
      });
      expect(audit.problems, `C14 audit of c${n} ${when}`).toEqual([]);
    }
  }
}

/**
 * What the rules fix about a customer a reversal changed (C1, C14, C23, C24), whose lots the
 * model no longer follows one by one.
 */
function expectRulesOf(view: CreditsAnswer & View, owes: boolean, who: string): void {
  const lots = (view.lots as { remaining: number }[]) ?? [];
  expect(view.held, `C25 nothing held by ${who}`).toBe(0);
  expect(view.balance, `C1 C14 ${who}'s balance is its lots'`).toBe(
    lots.reduce((sum, lot) => sum + lot.remaining, 0),
  );
  expect(view.debt, `C23 ${who}'s debt`).toBeGreaterThanOrEqual(0);
  if (!owes) expect(view.debt, `C24 ${who} never owes for someone else's refund`).toBe(0);
  if (view.debt > 0) {
    expect(
      { balance: view.balance, upcoming: view.upcoming },
      `C23 ${who}'s debt is repaid before anything is spendable`,
    ).toEqual({ balance: 0, upcoming: [] });
  }
}

/** The customers whose view a step may change, and those it may write. */
function affected(
  step: PlannedStep,
  everyone: readonly number[],
): { shown: readonly number[]; written: readonly number[] } {
  switch (step.kind) {
    case 'deliver': {
      const written = new Set<number>();
      for (const event of step.parts.flatMap((part) => part.events)) {
        written.add(event.customer);
        if (event.kind === 'reversal') for (const n of customersOf(event)) written.add(n);
        if ('referral' in event && event.referral?.kind === 'codeOf') {
          written.add(event.referral.customer);
        }
      }
      return { shown: everyone, written: [...written] };
    }
    case 'spend':
    case 'referralCode':
      return { shown: [step.customer], written: [step.customer] };
    case 'clock':
      return { shown: everyone, written: [] };
    case 'expire':
    case 'replay':
      return { shown: everyone, written: everyone };
  }
}

describe('Property: Stripe deliveries, duplicated, shuffled and concurrent, end as the model says', () => {
  let table: Awaited<ReturnType<typeof freshTable>>;
  let runNumber = 0;

  beforeAll(async () => {
    table = await freshTable('delivery');
    fake = await startStripeFake(STRIPE_PRICES);
    stripe = { stripeApiBase: fake.apiBase, stripeSecretKey: 'sk_test_fake' };
  });
  afterAll(async () => {
    await table.drop();
    await fake.stop();
  });

  it(
    `C3 C7 C8 C10 C11 C12 C14 C16 C17 C18 C19 C20 C21 C22 C23 C24: ${RUNS} histories of up to ${MAX_STEPS} steps agree with the model after every step`,
    async () => {
      await fc.assert(
        fc.asyncProperty(historyArbitrary(MAX_STEPS), fc.integer(), async (plan, interleaving) => {
          // New ids per run: fast-check reruns histories while shrinking.
          runNumber += 1;
          const scheduler = schedulerFrom(interleaving);
          try {
            await new HistoryRun(plan, table, scheduler, `r${runNumber}`).run();
          } catch (error) {
            throw withInterleaving(error, scheduler);
          }
        }),
        {
          numRuns: RUNS,
          ...(SEED !== undefined && { seed: SEED }),
          ...(PATH !== undefined && { path: PATH }),
          // Stop shrinking before the test's own timeout, and report what it has by then.
          interruptAfterTimeLimit: TIMEOUT_MS - 60_000,
          markInterruptAsFailure: true,
        },
      );
    },
    TIMEOUT_MS,
  );

  it('C10 C18: a trial redeems its code on its first paid renewal delivered before its $0 invoice (C16)', async () => {
    // Prepare: c1 has a code; c0 starts a $0 trial with it, and Stripe delivers the trial's
    // invoice and the first paid renewal in one batch, twice each, the renewal first.
    const twice = (key: number) => [
      { key, together: false },
      { key, together: false },
    ];
    const history: AbstractHistory = {
      startMs: Date.parse('2026-03-10T09:00:00Z'),
      customers: 2,
      steps: [
        { kind: 'referralCode', customer: 1 },
        {
          kind: 'batch',
          intents: [
            {
              kind: 'subscribe',
              customer: 0,
              plan: 1,
              quantity: 1,
              startHoursAgo: 0,
              referral: { kind: 'friend', of: 1, typed: 'lower' },
              via: 'both',
              trial: true,
              endsAfter: null,
              copies: [twice(5), twice(5), []],
            },
            {
              kind: 'renew',
              customer: 0,
              subscription: 0,
              via: 'paid',
              copies: [twice(1), [], []],
            },
          ],
        },
        { kind: 'spend', customer: 0, amount: 60, retryOf: null },
      ],
    };
    runNumber += 1;
    const run = new HistoryRun(planHistory(history), table, fc.schedulerFor([]), `t${runNumber}`);
    fake.reset();
    // Act and Assess: the model's bonus on the renewal is the real system's, and the renewal,
    // delivered first, asked Stripe about its subscription's earlier invoices.
    await run.run();
    expect(fake.requestsTo('/v1/invoices').length).toBeGreaterThan(0);
  });

  it('C10 C12 C16: a customer whose first subscription ended before its invoice arrived is not new (found by this test)', async () => {
    // Prepare: c0's first subscription ends within the hour, and Stripe delivers the end first;
    // then c0 subscribes again with c1's code. The first invoice was paid, so c0 is not new.
    const first = (key: number) => [{ key, together: false }];
    const copies = (...keys: number[]): Copies => [first(keys[0] ?? 0), first(keys[1] ?? 0), []];
    const history: AbstractHistory = {
      startMs: Date.parse('2026-01-31T10:00:00Z'),
      customers: 2,
      steps: [
        {
          kind: 'batch',
          intents: [
            {
              kind: 'subscribe',
              customer: 0,
              plan: 0,
              quantity: 1,
              startHoursAgo: 1,
              referral: { kind: 'none' },
              via: 'paid',
              trial: false,
              endsAfter: { hours: 0, via: 'deleted' },
              copies: copies(1, 0),
            },
          ],
        },
        { kind: 'referralCode', customer: 1 },
        {
          kind: 'batch',
          intents: [
            {
              kind: 'subscribe',
              customer: 0,
              plan: 0,
              quantity: 1,
              startHoursAgo: 0,
              referral: { kind: 'friend', of: 1, typed: 'display' },
              via: 'paid',
              trial: false,
              endsAfter: null,
              copies: copies(0),
            },
          ],
        },
      ],
    };
    runNumber += 1;
    const run = new HistoryRun(planHistory(history), table, fc.schedulerFor([]), `x${runNumber}`);
    // Act and Assess: after every step the real system agrees with the model (no bonus).
    await run.run();
  });

  it('C10 C16: a code on a subscription with another of the customer at or before it in Stripe is rejected, either delivered first', async () => {
    // Prepare: c0 subscribes twice in the same second, the first with c1's code, and the second
    // is delivered first; c2 subscribes with c1's code, then to one anchored an hour back, and
    // the coded one is delivered first. Each pair shares a shuffled part, and Stripe lists both.
    const at = (key: number): Copies => [[{ key, together: false }], [], []];
    const subscribe = (customer: number, coded: boolean, startHoursAgo: number, key: number) => ({
      kind: 'subscribe' as const,
      customer,
      plan: 0,
      quantity: 1,
      startHoursAgo,
      referral: coded
        ? { kind: 'friend' as const, of: 1, typed: 'display' as const }
        : { kind: 'none' as const },
      via: 'paid' as const,
      trial: false,
      endsAfter: null,
      copies: at(key),
    });
    const history: AbstractHistory = {
      startMs: Date.parse('2026-01-31T10:00:00Z'),
      customers: 3,
      steps: [
        { kind: 'referralCode', customer: 1 },
        { kind: 'batch', intents: [subscribe(0, true, 0, 1), subscribe(0, false, 0, 0)] },
        { kind: 'batch', intents: [subscribe(2, true, 0, 0), subscribe(2, false, 1, 1)] },
      ],
    };
    const plan = planHistory(history);
    const parts = plan.steps.flatMap((step) => (step.kind === 'deliver' ? [step.parts] : []));
    expect(parts.map((each) => each.length)).toEqual([1, 1]);
    runNumber += 1;
    const run = new HistoryRun(plan, table, fc.schedulerFor([]), `x${runNumber}`);
    // Act and Assess: after every step the real system agrees with the model (C10: no bonus).
    await run.run();
  });

  it('C19 C20: an annual plan changed twice, billed at once, and a monthly one billed at its renewal', async () => {
    // Prepare: c0 takes the annual plan x2 on 10 Mar and a monthly Basic on 1 Jun. In mid-June
    // the annual one goes down to x1 (its upcoming months are cut, latest first), then up to x3
    // (a top-up released month by month); the monthly one goes up to Pro x2, billed with its
    // renewal. Each event is delivered twice, together.
    const twice = (key: number) => [
      { key, together: false },
      { key, together: true },
    ];
    const copies: Copies = [twice(3), twice(1), []];
    const subscribe = (plan: number, quantity: number) => ({
      kind: 'subscribe' as const,
      customer: 0,
      plan,
      quantity,
      startHoursAgo: 0,
      referral: { kind: 'none' as const },
      via: 'both' as const,
      trial: false,
      endsAfter: null,
      copies,
    });
    const change = (subscription: number, plan: number, quantity: number) => ({
      kind: 'change' as const,
      customer: 0,
      subscription,
      plan,
      quantity,
      hoursAgo: 5,
      billing: 'renewal' as const,
      via: 'both' as const,
      copies,
    });
    const history: AbstractHistory = {
      startMs: Date.parse('2026-03-10T09:00:00Z'),
      customers: 1,
      steps: [
        { kind: 'batch', intents: [subscribe(2, 2)] },
        { kind: 'advance', hours: 24 * 83 },
        { kind: 'batch', intents: [subscribe(0, 1)] },
        { kind: 'advance', hours: 24 * 14 },
        { kind: 'spend', customer: 0, amount: 200, retryOf: null },
        { kind: 'batch', intents: [change(0, 0, 1), change(1, 1, 2)] },
        { kind: 'advance', hours: 24 },
        { kind: 'batch', intents: [change(0, 0, 3)] },
        {
          kind: 'batch',
          intents: [{ kind: 'renew', customer: 0, subscription: 1, via: 'paid', copies }],
        },
        { kind: 'spend', customer: 0, amount: 900, retryOf: null },
        { kind: 'advance', hours: 24 * 60 },
        { kind: 'expire' },
      ],
    };
    const plan = planHistory(history);
    const events = plan.steps.flatMap((step) =>
      step.kind === 'deliver' ? step.parts.flatMap((part) => part.events) : [],
    );
    expect(events.filter((event) => event.kind === 'change')).toHaveLength(4);
    expect(events.filter((event) => event.kind === 'invoice' && event.prorations)).toHaveLength(1);
    runNumber += 1;
    // Act and Assess: after every step the real system agrees with the model.
    // Some deliveries run together: the scheduler interleaves them as drawn from a fixed seed.
    await new HistoryRun(plan, table, schedulerFrom(12), `u${runNumber}`).run();
  });

  it('C7 C8 C20: annual plans renewed a year on, with their first invoice, around their ends and after one', async () => {
    // Prepare: from 31 Jan (C4's clamping), c0 and c1 take the annual plan. A year on c0's
    // renews (5 hours late); c1's renews and ends 30 hours into its second year, leaving c1
    // nothing active; c0 also gets a plan begun a year ago, a $0 trial, billed now for both
    // years and ended 5 hours before its renewal (C8: the renewal grants nothing); then c0's
    // first plan ends and a renewal for its third year arrives after that end. Every event
    // comes twice, shuffled, some copies together.
    const copies: Copies = [
      [
        { key: 4, together: false },
        { key: 1, together: true },
      ],
      [
        { key: 2, together: false },
        { key: 6, together: true },
      ],
      [
        { key: 1, together: false },
        { key: 5, together: true },
      ],
    ];
    const subscribe = (customer: number, quantity: number) => ({
      kind: 'subscribe' as const,
      customer,
      plan: 2,
      quantity,
      startHoursAgo: 0,
      referral: { kind: 'none' as const },
      via: 'both' as const,
      trial: false,
      endsAfter: null,
      copies,
    });
    const renewal = (
      customer: number,
      end: { hours: number; via: 'deleted' | 'updated' | 'both'; alone: boolean } | null,
      fresh = false,
    ) => ({
      kind: 'annualRenewal' as const,
      customer,
      subscription: 0,
      via: 'paid' as const,
      lateHours: 5,
      end,
      start: { fresh, quantity: 1, trial: true, startHoursAgo: 0 },
      copies,
    });
    const history: AbstractHistory = {
      startMs: Date.parse('2026-01-31T10:00:00Z'),
      customers: 2,
      steps: [
        { kind: 'batch', intents: [subscribe(0, 1), subscribe(1, 2)] },
        { kind: 'spend', customer: 0, amount: 30, retryOf: null },
        { kind: 'batch', intents: [renewal(0, null)] },
        { kind: 'advanceToExpiry', nth: 0 },
        { kind: 'spend', customer: 0, amount: 100, retryOf: null },
        { kind: 'batch', intents: [renewal(1, { hours: 30, via: 'both', alone: false })] },
        { kind: 'batch', intents: [renewal(0, { hours: -5, via: 'deleted', alone: false }, true)] },
        { kind: 'expire' },
        {
          kind: 'batch',
          intents: [
            { kind: 'cancel', customer: 0, subscription: 0, via: 'updated', hoursAgo: 0, copies },
          ],
        },
        { kind: 'batch', intents: [renewal(0, null)] },
      ],
    };
    const plan = planHistory(history);
    const renewals = plan.steps
      .flatMap((step) => (step.kind === 'deliver' ? step.parts.flatMap((part) => part.events) : []))
      .filter((event) => event.kind === 'invoice' && event.billingReason === 'subscription_cycle');
    expect(renewals.map((event) => event.kind === 'invoice' && event.invoiceId)).toEqual([
      'in_c0_0_1',
      'in_c1_0_1',
      'in_c0_1_1',
      'in_c0_0_2',
    ]);
    runNumber += 1;
    // Act and Assess: after every step the real system agrees with the model.
    await new HistoryRun(plan, table, schedulerFrom(20), `a${runNumber}`).run();
  });

  it("C10 C11 C21: a pack bought through Checkout, paid later, is a referee's first purchase", async () => {
    // Prepare: c1 has a code; c0 buys two packs through Checkout with it, paid asynchronously,
    // with the Session's invoice; every event comes twice, shuffled. Then c0 subscribes with
    // the code too, no longer new.
    const copies: Copies = [
      [
        { key: 4, together: false },
        { key: 0, together: true },
      ],
      [
        { key: 2, together: false },
        { key: 6, together: true },
      ],
      [
        { key: 1, together: true },
        { key: 5, together: false },
      ],
    ];
    const history: AbstractHistory = {
      startMs: Date.parse('2026-05-31T23:00:00Z'),
      customers: 2,
      steps: [
        {
          kind: 'batch',
          intents: [
            {
              kind: 'checkout',
              customer: 0,
              quantity: 2,
              referral: { kind: 'friend', of: 1, typed: 'compact' },
              payment: 'async',
              withInvoice: true,
              copies,
            },
          ],
        },
        { kind: 'spend', customer: 0, amount: 500, retryOf: null },
        {
          kind: 'batch',
          intents: [
            {
              kind: 'subscribe',
              customer: 0,
              plan: 1,
              quantity: 1,
              startHoursAgo: 0,
              referral: { kind: 'friend', of: 1, typed: 'display' },
              via: 'paid',
              trial: false,
              endsAfter: null,
              copies,
            },
          ],
        },
      ],
    };
    runNumber += 1;
    const run = new HistoryRun(planHistory(history), table, schedulerFrom(21), `k${runNumber}`);
    // Act and Assess: 400 credits of packs and a bonus of 200 each, once, as the model says.
    await run.run();
  });
});
