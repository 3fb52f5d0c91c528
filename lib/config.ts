import * as z from 'zod';
import { ConfigError } from './errors';

/** Everything the processor reads from its environment, validated once at start-up. */
export type Config = {
  readonly tableName: string;
  /** Local only: DynamoDB Local's URL. Absent in AWS, where the SDK finds DynamoDB itself. */
  readonly dynamoDbEndpoint?: string;
  /** Several during a rotation: a delivery signed with any of them is accepted. */
  readonly webhookSecrets: readonly string[];
  /**
   * In AWS instead of STRIPE_WEBHOOK_SECRET: the name of a SecureString SSM parameter whose
   * value is the secret (or several, comma-separated), read at run time (lib/secrets.ts).
   */
  readonly webhookSecretParameter?: string;
  /** Only for price look-ups (C2) and backfills from the Events API. */
  readonly stripeSecretKey?: string;
  /** In AWS instead of STRIPE_SECRET_KEY: the SecureString SSM parameter holding the key. */
  readonly stripeSecretKeyParameter?: string;
  /** How long a secret read from SSM is reused before it is read again; default 300 s. */
  readonly secretsMaxAgeS: number;
  /** Local tests only: where the `stripe` client sends its requests instead of api.stripe.com. */
  readonly stripeApiBase?: string;
  /** C2: price id -> monthly credits. */
  readonly planCredits: Readonly<Record<string, number>>;
  /** C2/C19: price id -> months one billing interval spans, where PLAN_CREDITS gives it. */
  readonly planIntervalMonths: Readonly<Record<string, number>>;
  /**
   * STRIPE_ACCEPTED_API_VERSIONS: during a move to a new Stripe API version, the other version
   * whose deliveries the webhook still accepts (lib/stripe/events.ts says which it can read).
   */
  readonly acceptedApiVersions: readonly string[];
  /** EVENT_BUS_NAME: where publishEvents puts C27's events; absent locally, where they are printed. */
  readonly eventBusName?: string;
  /** LOW_BALANCE_THRESHOLD: `credits.low` when a consumption takes the balance below it (C27). */
  readonly lowBalanceThreshold: number;
  /** EXPIRING_NOTICE_DAYS: `credits.expiring` this many days before a lot expires (C27). */
  readonly expiringNoticeDays: number;
  /**
   * STRIPE_EVENT_SOURCE: the Stripe partner event source (`aws.partner/stripe.com/...`) whose
   * events stripeEventBridge accepts; absent where Stripe does not deliver through EventBridge.
   */
  readonly stripeEventSource?: string;
  /** STRIPE_LIVEMODE: whether stripeEventBridge accepts live events (true) or test ones (false). */
  readonly stripeLivemode: boolean;
  /**
   * DESIGN.md's as-of rule: may writes run "as of" a `now` the caller gives? Only against
   * DynamoDB Local (DYNAMODB_ENDPOINT set) or with ALLOW_AS_OF_WRITES=true; deployed functions
   * otherwise honour `now` on reads and dry runs only.
   */
  readonly asOfWrites: boolean;
};

/** The part of the configuration the `credits` and `rollover` adapters are handed with their deps. */
export type AsOfConfig = { readonly asOfWrites?: boolean };

export const DEFAULT_TABLE_NAME = 'image-credits-local';
/** Long enough that SSM is read a few times an hour per container, short enough for rotation. */
export const DEFAULT_SECRETS_MAX_AGE_S = 300;
/** DESIGN.md's defaults for the two notices of C27. */
export const DEFAULT_LOW_BALANCE_THRESHOLD = 10;
export const DEFAULT_EXPIRING_NOTICE_DAYS = 7;
/** A pack lot lives 12 months (C21): a notice further ahead than that could never be sent. */
export const MAX_EXPIRING_NOTICE_DAYS = 365;
export const MAX_LOW_BALANCE_THRESHOLD = 1_000_000;
const STRIPE_PARTNER_SOURCE = /^aws\.partner\/stripe\.com\/[\w.-]+$/;

const wholeCredits = z
  .number({ error: 'must be a whole number of credits' })
  .int('must be a whole number of credits')
  .nonnegative('must be 0 or more');

/**
 * The plan catalog as configured (DESIGN.md, PLAN_CREDITS): price id -> monthly credits, or
 * -> `{"credits": n, "intervalMonths": m}` for a price whose billing interval spans `m` months.
 * Zero is valid (C2: a price that grants nothing). Shared with the template check, so a
 * catalog that would not load is refused before it is deployed.
 */
export const planCatalogSchema = z.record(
  z.string().trim().min(1, 'a price id must not be empty'),
  z.union(
    [
      wholeCredits,
      z.strictObject({
        credits: wholeCredits,
        intervalMonths: z
          .number({ error: 'must be a whole number of months' })
          .int('must be a whole number of months')
          .min(1, 'must be at least 1')
          .max(120, 'must be at most 120'),
      }),
    ],
    { error: 'must be a whole number of credits or {"credits": n, "intervalMonths": m}' },
  ),
);

export type PlanCatalogConfig = {
  readonly planCredits: Record<string, number>;
  readonly planIntervalMonths: Record<string, number>;
};

/** Parses a catalog value; the first problem names its price, e.g. `price_pro.credits`. */
export function parsePlanCatalog(json: unknown, source = 'PLAN_CREDITS'): PlanCatalogConfig {
  const parsed = planCatalogSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${source}.${issue.path.join('.')}` : source;
    throw new ConfigError(`${where}: ${issue?.message ?? 'is invalid'}`);
  }
  const planCredits: Record<string, number> = {};
  const planIntervalMonths: Record<string, number> = {};
  for (const [priceId, entry] of Object.entries(parsed.data)) {
    if (typeof entry === 'number') {
      planCredits[priceId] = entry;
    } else {
      planCredits[priceId] = entry.credits;
      planIntervalMonths[priceId] = entry.intervalMonths;
    }
  }
  return { planCredits, planIntervalMonths };
}

function parsePlanCredits(raw: string | undefined): PlanCatalogConfig {
  if (!raw?.trim()) return { planCredits: {}, planIntervalMonths: {} };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError('PLAN_CREDITS is not JSON; expected {"price_...": credits}', error);
  }
  return parsePlanCatalog(json);
}

function list(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

function optional(raw: string | undefined): string | undefined {
  const value = raw?.trim();
  return value ? value : undefined;
}

/** A secret comes from the environment or from SSM, never both: which one wins is no guess. */
function oneSource(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const parameter = optional(env[`${name}_PARAMETER`]);
  if (parameter && optional(env[name])) {
    throw new ConfigError(`${name} and ${name}_PARAMETER are both set; set only one`);
  }
  if (parameter && !parameter.startsWith('/')) {
    throw new ConfigError(`${name}_PARAMETER must be an SSM parameter name starting with /`);
  }
  return parameter;
}

function flag(raw: string | undefined, name: string): boolean {
  const value = optional(raw);
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new ConfigError(`${name} must be true or false, got "${value}"`);
}

function secondsOr(raw: string | undefined, name: string, fallback: number): number {
  const value = optional(raw);
  if (value === undefined) return fallback;
  if (!/^\d{1,6}$/.test(value)) {
    throw new ConfigError(`${name} must be a whole number of seconds, got "${value}"`);
  }
  return Number(value);
}

function wholeNumberOr(
  raw: string | undefined,
  name: string,
  bounds: { fallback: number; min: number; max: number },
): number {
  const value = optional(raw);
  if (value === undefined) return bounds.fallback;
  const number = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= bounds.min && number <= bounds.max)) {
    throw new ConfigError(
      `${name} must be a whole number from ${bounds.min} to ${bounds.max}, got "${value}"`,
    );
  }
  return number;
}

function booleanOr(raw: string | undefined, name: string, fallback: boolean): boolean {
  const value = optional(raw)?.toLowerCase();
  if (value === undefined) return fallback;
  if (value !== 'true' && value !== 'false') {
    throw new ConfigError(`${name} must be true or false, got "${value}"`);
  }
  return value === 'true';
}

function stripeEventSourceOf(raw: string | undefined): string | undefined {
  const value = optional(raw);
  if (value !== undefined && !STRIPE_PARTNER_SOURCE.test(value)) {
    throw new ConfigError(
      `STRIPE_EVENT_SOURCE must be a Stripe partner event source (aws.partner/stripe.com/...), got "${value}"`,
    );
  }
  return value;
}

/** The settings of C27's events and of Stripe's EventBridge delivery. */
function eventSettings(env: NodeJS.ProcessEnv) {
  const eventBusName = optional(env.EVENT_BUS_NAME);
  const stripeEventSource = stripeEventSourceOf(env.STRIPE_EVENT_SOURCE);
  return {
    lowBalanceThreshold: wholeNumberOr(env.LOW_BALANCE_THRESHOLD, 'LOW_BALANCE_THRESHOLD', {
      fallback: DEFAULT_LOW_BALANCE_THRESHOLD,
      min: 0,
      max: MAX_LOW_BALANCE_THRESHOLD,
    }),
    expiringNoticeDays: wholeNumberOr(env.EXPIRING_NOTICE_DAYS, 'EXPIRING_NOTICE_DAYS', {
      fallback: DEFAULT_EXPIRING_NOTICE_DAYS,
      min: 1,
      max: MAX_EXPIRING_NOTICE_DAYS,
    }),
    // Test mode unless said otherwise: a live deployment that forgot it refuses live events
    // loudly (each one fails and lands in the dead-letter queue), never accepts test ones.
    stripeLivemode: booleanOr(env.STRIPE_LIVEMODE, 'STRIPE_LIVEMODE', false),
    ...(eventBusName && { eventBusName }),
    ...(stripeEventSource && { stripeEventSource }),
  };
}

/**
 * Reads the configuration. TABLE_NAME has a local default so that `npm start` and
 * `npm run invoke` meet on the same table; in AWS serverless.yml always sets it. Secrets come
 * as plain values locally (STRIPE_WEBHOOK_SECRET, STRIPE_SECRET_KEY) and as SSM parameter
 * names in AWS (..._PARAMETER), so that no secret is readable in a function's configuration.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dynamoDbEndpoint = optional(env.DYNAMODB_ENDPOINT);
  const stripeSecretKey = optional(env.STRIPE_SECRET_KEY);
  const stripeApiBase = optional(env.STRIPE_API_BASE);
  const webhookSecretParameter = oneSource(env, 'STRIPE_WEBHOOK_SECRET');
  const stripeSecretKeyParameter = oneSource(env, 'STRIPE_SECRET_KEY');
  const allowAsOfWrites = flag(env.ALLOW_AS_OF_WRITES, 'ALLOW_AS_OF_WRITES');
  return {
    tableName: optional(env.TABLE_NAME) ?? DEFAULT_TABLE_NAME,
    webhookSecrets: list(env.STRIPE_WEBHOOK_SECRET),
    ...parsePlanCredits(env.PLAN_CREDITS),
    acceptedApiVersions: list(env.STRIPE_ACCEPTED_API_VERSIONS),
    asOfWrites: allowAsOfWrites || dynamoDbEndpoint !== undefined,
    secretsMaxAgeS: secondsOr(
      env.SECRETS_MAX_AGE_SECONDS,
      'SECRETS_MAX_AGE_SECONDS',
      DEFAULT_SECRETS_MAX_AGE_S,
    ),
    ...eventSettings(env),
    ...(dynamoDbEndpoint && { dynamoDbEndpoint }),
    ...(stripeSecretKey && { stripeSecretKey }),
    ...(stripeSecretKeyParameter && { stripeSecretKeyParameter }),
    ...(webhookSecretParameter && { webhookSecretParameter }),
    ...(stripeApiBase && { stripeApiBase }),
  };
}
