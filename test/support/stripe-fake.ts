import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stripeFixture } from './stripe-events';

/**
 * A small local stand-in for the Stripe API endpoints the processor calls, so tests drive the
 * real `stripe` client (pointed here with host/port/protocol) without any network:
 * - GET /v1/prices/:id             from `prices` (404 `resource_missing` otherwise)
 * - GET /v1/invoices/:id/lines     from `invoiceLines`, paginated
 * - GET /v1/invoices/:id           from `invoices`, else `invoiceDiscounts` (discounts expanded
 *                                  when asked)
 * - GET /v1/subscriptions/:id      from `subscriptions`
 * - GET /v1/invoices               from `invoices`, by subscription (the invoice's
 *                                  `parent.subscription_details.subscription`), customer,
 *                                  status and created[lte], newest first
 * - GET /v1/promotion_codes/:id    from `promotionCodes`
 * - GET /v1/checkout/sessions/:id/line_items   from `checkoutLines`, paginated
 * - GET /v1/events                 from `events`: created[gte|gt|lte|lt], types[], type,
 *                                  starting_after, limit, has_more; newest first, as Stripe
 * - GET /v1/invoice_payments       from `invoicePayments`, by payment[payment_intent] (the
 *                                  invoice expanded when asked, with its customer)
 * - GET /v1/refunds                from `refunds`, by charge
 * - GET /v1/checkout/sessions      from `checkoutSessions`, by payment_intent, customer,
 *                                  status and created[lte], newest first
 * Every request is recorded. Unknown routes answer 404 in Stripe's error shape.
 */
export type FakeRequest = {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly authorization: string | undefined;
};

export type StripeFakeOptions = {
  /** price id -> the Price's metadata (e.g. `{ credits: '500' }`). */
  readonly prices?: Record<string, Record<string, string>>;
  /** price id -> more of the Price: its unit amount and interval (C19). */
  readonly priceDetails?: Record<
    string,
    { unit_amount?: number; recurring?: { interval: string; interval_count: number } | null }
  >;
  /** Checkout Session id -> its line items (JSON objects as Stripe lists them). */
  readonly checkoutLines?: Record<string, Record<string, unknown>[]>;
  /** invoice id -> every line item (JSON objects as Stripe lists them). */
  readonly invoiceLines?: Record<string, Record<string, unknown>[]>;
  /** Events in any order; listed newest first. */
  readonly events?: Record<string, unknown>[];
  /** invoice id -> the promotion code ids of its discounts (null: a plain coupon). */
  readonly invoiceDiscounts?: Record<string, (string | null)[]>;
  /** promotion code id -> its metadata. */
  readonly promotionCodes?: Record<string, Record<string, string>>;
  /** invoice id -> the whole invoice, as the API returns it now (a backfill's re-read). */
  readonly invoices?: Record<string, Record<string, unknown>>;
  /** subscription id -> the whole subscription, as the API returns it now. */
  readonly subscriptions?: Record<string, Record<string, unknown>>;
  /** payment intent id -> the invoice it paid (C24: how a refund or dispute finds it). */
  readonly invoicePayments?: Record<string, InvoicePaymentOf>;
  /** charge id -> its refunds (JSON objects as Stripe lists them). */
  readonly refunds?: Record<string, Record<string, unknown>[]>;
  /**
   * payment intent id -> the Checkout Session it paid (JSON as Stripe lists it); listed by
   * customer too. A Session without a payment intent may be keyed by its own id.
   */
  readonly checkoutSessions?: Record<string, Record<string, unknown>>;
};

export type InvoicePaymentOf = {
  readonly invoiceId: string;
  readonly customerId: string;
  readonly amount: number;
};

export type StripeFake = {
  /** For STRIPE_API_BASE, e.g. `http://127.0.0.1:53122`. */
  readonly apiBase: string;
  readonly requests: FakeRequest[];
  readonly prices: Map<string, Record<string, string>>;
  readonly checkoutLines: Map<string, Record<string, unknown>[]>;
  readonly invoiceLines: Map<string, Record<string, unknown>[]>;
  readonly events: Record<string, unknown>[];
  readonly promotionCodes: Map<string, Record<string, string>>;
  readonly invoices: Map<string, Record<string, unknown>>;
  readonly subscriptions: Map<string, Record<string, unknown>>;
  readonly invoicePayments: Map<string, InvoicePaymentOf>;
  readonly refunds: Map<string, Record<string, unknown>[]>;
  readonly checkoutSessions: Map<string, Record<string, unknown>>;
  /** The next `count` requests fail with `status` (and `Stripe-Should-Retry: false`). */
  failNext(status: number, count?: number): void;
  requestsTo(pathPrefix: string): FakeRequest[];
  /** Back to how it started (its options' objects, no requests, no failures): between tests. */
  reset(): void;
  stop(): Promise<void>;
};

function refill<V>(map: Map<string, V>, entries: Readonly<Record<string, V>> | undefined): void {
  map.clear();
  for (const [key, value] of Object.entries(entries ?? {})) map.set(key, value);
}

export async function startStripeFake(options: StripeFakeOptions = {}): Promise<StripeFake> {
  const prices = new Map(Object.entries(options.prices ?? {}));
  const priceDetails = new Map(Object.entries(options.priceDetails ?? {}));
  const checkoutLines = new Map(Object.entries(options.checkoutLines ?? {}));
  const invoiceLines = new Map(Object.entries(options.invoiceLines ?? {}));
  const events = [...(options.events ?? [])];
  const invoiceDiscounts = new Map(Object.entries(options.invoiceDiscounts ?? {}));
  const promotionCodes = new Map(Object.entries(options.promotionCodes ?? {}));
  const invoices = new Map(Object.entries(options.invoices ?? {}));
  const subscriptions = new Map(Object.entries(options.subscriptions ?? {}));
  const invoicePayments = new Map(Object.entries(options.invoicePayments ?? {}));
  const refunds = new Map(Object.entries(options.refunds ?? {}));
  const checkoutSessions = new Map(Object.entries(options.checkoutSessions ?? {}));
  const requests: FakeRequest[] = [];
  let failures: { status: number; count: number } | undefined;

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://stripe.fake');
    requests.push({
      method: request.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      authorization: request.headers.authorization,
    });
    request.resume();
    if (failures && failures.count > 0) {
      failures.count -= 1;
      return sendError(response, failures.status, 'api_error', undefined, 'fake Stripe failure');
    }
    if (!request.headers.authorization?.startsWith('Bearer sk_')) {
      return sendError(response, 401, 'invalid_request_error', undefined, 'Invalid API Key');
    }
    route(request, url, response);
  });

  function route(request: IncomingMessage, url: URL, response: ServerResponse) {
    const path = url.pathname;
    if (request.method !== 'GET') return notFound(response, path);
    const price = /^\/v1\/prices\/([^/]+)$/.exec(path);
    if (price?.[1]) return sendPrice(response, decodeURIComponent(price[1]));
    const lines = /^\/v1\/invoices\/([^/]+)\/lines$/.exec(path);
    if (lines?.[1]) return sendLines(response, decodeURIComponent(lines[1]), url);
    if (path === '/v1/events') return sendEvents(response, url);
    if (path === '/v1/invoice_payments') return sendInvoicePayments(response, url);
    if (path === '/v1/invoices') return sendInvoiceList(response, url);
    if (path === '/v1/checkout/sessions') return sendSessionList(response, url);
    if (path === '/v1/refunds') {
      return sendPage(response, refunds.get(url.searchParams.get('charge') ?? '') ?? [], url, path);
    }
    const session = /^\/v1\/checkout\/sessions\/([^/]+)\/line_items$/.exec(path);
    if (session?.[1]) return sendCheckoutLines(response, decodeURIComponent(session[1]), url);
    const invoice = /^\/v1\/invoices\/([^/]+)$/.exec(path);
    if (invoice?.[1]) return sendInvoice(response, decodeURIComponent(invoice[1]), url);
    const subscription = /^\/v1\/subscriptions\/([^/]+)$/.exec(path);
    if (subscription?.[1])
      return sendStored(response, subscriptions, 'subscription', subscription[1]);
    const promotion = /^\/v1\/promotion_codes\/([^/]+)$/.exec(path);
    if (promotion?.[1]) return sendPromotionCode(response, decodeURIComponent(promotion[1]));
    notFound(response, path);
  }

  function sendStored(
    response: ServerResponse,
    store: Map<string, Record<string, unknown>>,
    resource: string,
    rawId: string,
  ) {
    const id = decodeURIComponent(rawId);
    const object = store.get(id);
    if (!object) return missing(response, resource, id);
    send(response, 200, object);
  }

  function sendInvoice(response: ServerResponse, invoiceId: string, url: URL) {
    if (invoices.has(invoiceId)) return sendStored(response, invoices, 'invoice', invoiceId);
    const promotionIds = invoiceDiscounts.get(invoiceId);
    if (!promotionIds) return missing(response, 'invoice', invoiceId);
    // stripe-node sends `expand[0]=discounts`; curl users write `expand[]=discounts`.
    const expanded = [...url.searchParams.entries()].some(
      ([key, value]) => key.startsWith('expand[') && value === 'discounts',
    );
    const discounts = promotionIds.map((promotionCode, index) => {
      const id = `di_fake_${invoiceId}_${index}`;
      return expanded
        ? { ...stripeFixture('discount'), id, invoice: invoiceId, promotion_code: promotionCode }
        : id;
    });
    send(response, 200, { ...stripeFixture('invoice'), id: invoiceId, discounts });
  }

  /**
   * A subscription's or a customer's invoices, as `GET /v1/invoices?subscription=...` or
   * `?customer=...` lists them (C10).
   */
  function sendInvoiceList(response: ServerResponse, url: URL) {
    const q = url.searchParams;
    const matching = [...invoices.values()]
      .filter(
        (invoice) =>
          (!q.has('subscription') || subscriptionOfInvoice(invoice) === q.get('subscription')) &&
          listed(invoice, q),
      )
      .sort(newestFirst);
    sendPage(response, matching, url, '/v1/invoices');
  }

  /** Checkout Sessions by payment_intent (C24), or a customer's by status and created (C10). */
  function sendSessionList(response: ServerResponse, url: URL) {
    const q = url.searchParams;
    const intent = q.get('payment_intent');
    const byIntent = intent === null ? undefined : checkoutSessions.get(intent);
    const candidates =
      intent === null ? [...checkoutSessions.values()] : byIntent ? [byIntent] : [];
    const matching = candidates.filter((session) => listed(session, q)).sort(newestFirst);
    sendPage(response, matching, url, '/v1/checkout/sessions');
  }

  /** Stripe's invoice payments of one payment intent; `expand[]=data.invoice` embeds it. */
  function sendInvoicePayments(response: ServerResponse, url: URL) {
    const intent = url.searchParams.get('payment[payment_intent]') ?? '';
    const paid = invoicePayments.get(intent);
    const expanded = [...url.searchParams.entries()].some(
      ([key, value]) => key.startsWith('expand[') && value === 'data.invoice',
    );
    const data = paid
      ? [
          {
            ...stripeFixture('invoice_payment'),
            id: `inpay_fake_${intent}`,
            amount_paid: paid.amount,
            status: 'paid',
            payment: { type: 'payment_intent', payment_intent: intent },
            invoice: expanded
              ? { ...stripeFixture('invoice'), id: paid.invoiceId, customer: paid.customerId }
              : paid.invoiceId,
          },
        ]
      : [];
    sendPage(response, data, url, '/v1/invoice_payments');
  }

  function sendPromotionCode(response: ServerResponse, promotionCodeId: string) {
    const metadata = promotionCodes.get(promotionCodeId);
    if (!metadata) return missing(response, 'promotion_code', promotionCodeId);
    send(response, 200, { ...stripeFixture('promotion_code'), id: promotionCodeId, metadata });
  }

  function missing(response: ServerResponse, resource: string, id: string) {
    sendError(
      response,
      404,
      'invalid_request_error',
      'resource_missing',
      `No such ${resource}: '${id}'`,
      resource,
    );
  }

  function sendPrice(response: ServerResponse, priceId: string) {
    const metadata = prices.get(priceId);
    if (!metadata) {
      return sendError(
        response,
        404,
        'invalid_request_error',
        'resource_missing',
        `No such price: '${priceId}'`,
        'price',
      );
    }
    send(response, 200, {
      ...stripeFixture('price'),
      id: priceId,
      metadata,
      ...priceDetails.get(priceId),
    });
  }

  function sendCheckoutLines(response: ServerResponse, sessionId: string, url: URL) {
    const all = checkoutLines.get(sessionId);
    if (!all) return missing(response, 'checkout.session', sessionId);
    sendPage(response, all, url, `/v1/checkout/sessions/${sessionId}/line_items`);
  }

  function sendLines(response: ServerResponse, invoiceId: string, url: URL) {
    const all = invoiceLines.get(invoiceId);
    if (!all) {
      return sendError(
        response,
        404,
        'invalid_request_error',
        'resource_missing',
        `No such invoice: '${invoiceId}'`,
        'invoice',
      );
    }
    sendPage(response, all, url, `/v1/invoices/${invoiceId}/lines`);
  }

  function sendEvents(response: ServerResponse, url: URL) {
    const q = url.searchParams;
    const bound = (name: string) => (q.has(name) ? Number(q.get(name)) : undefined);
    const [gte, gt, lte, lt] = ['gte', 'gt', 'lte', 'lt'].map((op) => bound(`created[${op}]`));
    const types = [...q.entries()]
      .filter(([key]) => key === 'type' || key === 'types[]' || /^types\[\d+\]$/.test(key))
      .map(([, value]) => value);
    const matching = events
      .map((event, index) => ({ event, index }))
      .filter(({ event }) => {
        const created = Number(event.created);
        return (
          (gte === undefined || created >= gte) &&
          (gt === undefined || created > gt) &&
          (lte === undefined || created <= lte) &&
          (lt === undefined || created < lt) &&
          (types.length === 0 || types.includes(String(event.type)))
        );
      })
      // Newest first; among equal times, the later-added first (as Stripe lists them).
      .sort((a, b) => Number(b.event.created) - Number(a.event.created) || b.index - a.index)
      .map(({ event }) => event);
    sendPage(response, matching, url, '/v1/events');
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

  return {
    apiBase: `http://127.0.0.1:${port}`,
    requests,
    prices,
    checkoutLines,
    invoiceLines,
    events,
    promotionCodes,
    invoices,
    subscriptions,
    invoicePayments,
    refunds,
    checkoutSessions,
    failNext(status, count = 1) {
      failures = { status, count };
    },
    requestsTo(pathPrefix) {
      return requests.filter((request) => request.path.startsWith(pathPrefix));
    },
    reset() {
      refill(prices, options.prices);
      refill(priceDetails, options.priceDetails);
      refill(checkoutLines, options.checkoutLines);
      refill(invoiceLines, options.invoiceLines);
      events.splice(0, events.length, ...(options.events ?? []));
      refill(invoiceDiscounts, options.invoiceDiscounts);
      refill(promotionCodes, options.promotionCodes);
      refill(invoices, options.invoices);
      refill(subscriptions, options.subscriptions);
      refill(invoicePayments, options.invoicePayments);
      refill(refunds, options.refunds);
      refill(checkoutSessions, options.checkoutSessions);
      requests.length = 0;
      failures = undefined;
    },
    stop() {
      server.closeAllConnections();
      return new Promise((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

/** Stripe's list pagination: `limit` (default 10, max 100) after `starting_after`. */
function sendPage(
  response: ServerResponse,
  items: readonly Record<string, unknown>[],
  url: URL,
  listUrl: string,
) {
  const q = url.searchParams;
  const limit = Math.min(100, Math.max(1, Number(q.get('limit') ?? 10)));
  const after = q.get('starting_after');
  const position = after ? items.findIndex((item) => item.id === after) : -1;
  if (after && position < 0) {
    const message = `No such object: '${after}'`;
    return sendError(
      response,
      400,
      'invalid_request_error',
      'resource_missing',
      message,
      'starting_after',
    );
  }
  const start = position + 1;
  const data = items.slice(start, start + limit);
  send(response, 200, {
    object: 'list',
    data,
    has_more: start + limit < items.length,
    url: listUrl,
  });
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
) {
  response.writeHead(status, {
    'content-type': 'application/json',
    'request-id': `req_fake${Math.random().toString(36).slice(2, 10)}`,
    ...extra,
  });
  response.end(JSON.stringify(body));
}

function sendError(
  response: ServerResponse,
  status: number,
  type: string,
  code: string | undefined,
  message: string,
  param?: string,
) {
  send(
    response,
    status,
    { error: { type, message, ...(code && { code }), ...(param && { param }) } },
    { 'stripe-should-retry': 'false' },
  );
}

function notFound(response: ServerResponse, path: string) {
  sendError(
    response,
    404,
    'invalid_request_error',
    undefined,
    `Unrecognized request URL (GET: ${path})`,
  );
}

/** The filters Stripe's lists share: customer, status and created[lte]. */
function listed(object: Record<string, unknown>, q: URLSearchParams): boolean {
  const createdUpTo = q.has('created[lte]') ? Number(q.get('created[lte]')) : Infinity;
  return (
    (!q.has('customer') || object.customer === q.get('customer')) &&
    (!q.has('status') || object.status === q.get('status')) &&
    Number(object.created) <= createdUpTo
  );
}

function newestFirst(a: Record<string, unknown>, b: Record<string, unknown>): number {
  return Number(b.created) - Number(a.created);
}

function subscriptionOfInvoice(invoice: Record<string, unknown>): unknown {
  const parent = invoice.parent as { subscription_details?: { subscription?: unknown } } | null;
  return parent?.subscription_details?.subscription;
}
