import * as z from 'zod';
import { ConfigError } from './errors';

/** Everything the processor reads from its environment, validated once at start-up. */
export type Config = {
  readonly tableName: string;
  /** Local only: DynamoDB Local's URL. Absent in AWS, where the SDK finds DynamoDB itself. */
  readonly dynamoDbEndpoint?: string;
  /** Several during a rotation: a delivery signed with any of them is accepted. */
  readonly webhookSecrets: readonly string[];
  /** Only for price look-ups (C2) and backfills from the Events API. */
  readonly stripeSecretKey?: string;
  /** Local tests only: where the `stripe` client sends its requests instead of api.stripe.com. */
  readonly stripeApiBase?: string;
  /** C2: price id -> monthly credits. */
  readonly planCredits: Readonly<Record<string, number>>;
};

export const DEFAULT_TABLE_NAME = 'image-credits-local';

const planCreditsSchema = z.record(z.string().min(1), z.number().int().positive());

function parsePlanCredits(raw: string | undefined): Record<string, number> {
  if (!raw?.trim()) return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError('PLAN_CREDITS is not JSON; expected {"price_...": credits}', error);
  }
  const parsed = planCreditsSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      `PLAN_CREDITS must map price ids to positive whole numbers of credits: ${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
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

/**
 * Reads the configuration. TABLE_NAME has a local default so that `npm start` and
 * `npm run invoke` meet on the same table; in AWS serverless.yml always sets it.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dynamoDbEndpoint = optional(env.DYNAMODB_ENDPOINT);
  const stripeSecretKey = optional(env.STRIPE_SECRET_KEY);
  const stripeApiBase = optional(env.STRIPE_API_BASE);
  return {
    tableName: optional(env.TABLE_NAME) ?? DEFAULT_TABLE_NAME,
    webhookSecrets: list(env.STRIPE_WEBHOOK_SECRET),
    planCredits: parsePlanCredits(env.PLAN_CREDITS),
    ...(dynamoDbEndpoint && { dynamoDbEndpoint }),
    ...(stripeSecretKey && { stripeSecretKey }),
    ...(stripeApiBase && { stripeApiBase }),
  };
}
