import { isDeepStrictEqual } from 'node:util';
import { MetricName } from '../lib/metrics';
import { LOTS_BY_EXPIRY_INDEX } from '../lib/store/keys';

/**
 * What the template check (infra/check-template.ts) knows about the packaged template: the
 * functions DESIGN.md promises and what each may do, and small helpers to read CloudFormation's
 * references. Only the forms the framework writes for serverless.yml are understood.
 */
export type Resource = {
  Type: string;
  Condition?: string;
  Properties?: Record<string, unknown>;
};
export type Template = {
  Resources: Record<string, Resource>;
  Conditions?: Record<string, unknown>;
};

export const TABLE_ID = 'CreditsTable';

/** The actions each item of a command's reads and transaction needs (see serverless.yml). */
export const LEDGER_COMMANDS = [
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
];
/** What Lambda's event source mapping calls, with the function's role, to read a stream. */
export const STREAM_READS = [
  'dynamodb:DescribeStream',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:ListStreams',
];
export const SECRET = { webhook: 'stripe-webhook-secret', key: 'stripe-secret-key' } as const;

export type FunctionSpec = {
  readonly logicalId: string;
  readonly handler: string;
  /** The SSM parameters (names under /image-credits/<stage>/) the function reads. */
  readonly parameters: readonly (typeof SECRET)[keyof typeof SECRET][];
  /** Actions by resource: `table`, `index/<name>`, or `stream` (the table's stream). */
  readonly dynamodb: Readonly<Record<string, readonly string[]>>;
  /**
   * Where what it failed on goes: `async`, its asynchronous invocations' failure destination
   * (scheduled, EventBridge-invoked or async-invoked); `stream`, its stream mapping's
   * on-failure destination; absent, nowhere (its caller sees the error).
   */
  readonly deadLetter?: 'async' | 'stream';
  /** Puts events on the stack's event bus: the only function that may (C27). */
  readonly putsEvents?: true;
  /** Its InputErrors metric, when a caller's bad input is thrown (and so a Lambda error). */
  readonly inputErrors?: string;
};

export const FUNCTIONS: Readonly<Record<string, FunctionSpec>> = {
  stripeWebhook: {
    logicalId: 'StripeWebhookLambdaFunction',
    handler: 'functions/stripe-webhook.handler',
    parameters: [SECRET.webhook, SECRET.key],
    dynamodb: { table: LEDGER_COMMANDS },
  },
  rollover: {
    logicalId: 'RolloverLambdaFunction',
    handler: 'functions/rollover.handler',
    parameters: [],
    dynamodb: { table: LEDGER_COMMANDS, [`index/${LOTS_BY_EXPIRY_INDEX}`]: ['dynamodb:Query'] },
    deadLetter: 'async',
    inputErrors: MetricName.rolloverInputErrors,
  },
  backfill: {
    logicalId: 'BackfillLambdaFunction',
    handler: 'functions/backfill.handler',
    parameters: [SECRET.key],
    dynamodb: { table: LEDGER_COMMANDS },
    deadLetter: 'async',
    inputErrors: MetricName.backfillInputErrors,
  },
  credits: {
    logicalId: 'CreditsLambdaFunction',
    handler: 'functions/credits.handler',
    parameters: [],
    // Scan: the `audit` action's whole-table pass.
    dynamodb: { table: [...LEDGER_COMMANDS, 'dynamodb:Scan'] },
    inputErrors: MetricName.creditsInputErrors,
  },
  publishEvents: {
    logicalId: 'PublishEventsLambdaFunction',
    handler: 'functions/publish-events.handler',
    parameters: [],
    // Events are made from the stream records alone: nothing on the table.
    dynamodb: { stream: STREAM_READS },
    deadLetter: 'stream',
    putsEvents: true,
  },
  stripeEventBridge: {
    logicalId: 'StripeEventBridgeLambdaFunction',
    handler: 'functions/stripe-eventbridge.handler',
    // The webhook's processing without its signature: the API key for look-ups only.
    parameters: [SECRET.key],
    dynamodb: { table: LEDGER_COMMANDS },
    deadLetter: 'async',
  },
};

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Every logical id a value points at through Ref, Fn::GetAtt or Fn::Sub, at any depth. */
export function references(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) references(item, found);
  } else if (isRecord(value)) {
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'Ref' && typeof inner === 'string') found.add(inner);
      else if (key === 'Fn::GetAtt' && Array.isArray(inner)) found.add(String(inner[0]));
      else if (key === 'Fn::Sub' && typeof inner === 'string') {
        for (const match of inner.matchAll(/\$\{([A-Za-z0-9]+)[.}]/g)) found.add(String(match[1]));
      } else references(inner, found);
    }
  }
  return found;
}

export const isGetAtt = (value: unknown, logicalId: string, attribute = 'Arn') =>
  isRecord(value) && isDeepStrictEqual(value['Fn::GetAtt'], [logicalId, attribute]);

/** The function a value points at, by its name in FUNCTIONS. */
export function functionNameOf(value: unknown): string | undefined {
  const ids = references(value);
  return Object.entries(FUNCTIONS).find(([, spec]) => ids.has(spec.logicalId))?.[0];
}

export class Check {
  readonly problems: string[] = [];
  constructor(
    readonly template: Template,
    readonly root: string,
  ) {}
  fail(problem: string) {
    this.problems.push(problem);
  }
  ofType(type: string): [string, Resource][] {
    return Object.entries(this.template.Resources).filter(([, resource]) => resource.Type === type);
  }
  props(logicalId: string): Record<string, unknown> {
    return this.template.Resources[logicalId]?.Properties ?? {};
  }
  isType(logicalId: string, type: string): boolean {
    return this.template.Resources[logicalId]?.Type === type;
  }
  environment(spec: FunctionSpec): Record<string, unknown> {
    const variables = (this.props(spec.logicalId).Environment as { Variables?: unknown })
      ?.Variables;
    return isRecord(variables) ? variables : {};
  }
  /** The SQS queue a value points at, if it points at one. */
  queueOf(value: unknown): string | undefined {
    return [...references(value)].find((id) => this.isType(id, 'AWS::SQS::Queue'));
  }
}
