import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/**
 * The ops CLI's commands (docs/ops-cli.md), each parsed into the function it invokes and the
 * JSON it sends: the same JSON an `aws lambda invoke` by hand would need, so the CLI adds no
 * behaviour of its own. Writes are marked, so that a deployed stage asks before them.
 */
export const USAGE = `usage: npm run ops -- <command> [arguments] [--stage <stage>] [--json] [--yes]

commands:
  balance <customerId> [--now <ISO>]
  ledger <customerId> [--limit <n>] [--cursor <cursor>]
  adjust <customerId> <amount> --reason <why> --key <idempotency key> [--at <ISO>]
  audit [<customerId>] [--now <ISO>]
  backfill --since <ISO> [--until <ISO>] [--types <a,b>] [--dry-run]
  backfill --events <file.json> [--dry-run]
  rollover [--now <ISO>] [--dry-run]
  migrate [--dry-run]

Without --stage, runs against the local stack (npm start's DynamoDB Local); with it, invokes
the deployed functions image-credits-<stage>-<function>, asking before any write (--yes skips).`;

export const OpsFunction = {
  credits: 'credits',
  backfill: 'backfill',
  rollover: 'rollover',
  migrate: 'migrate',
} as const;
export type OpsFunction = (typeof OpsFunction)[keyof typeof OpsFunction];

export type OpsCommand = {
  readonly name: string;
  readonly function: OpsFunction;
  readonly payload: Record<string, unknown>;
  /** What a confirmation prompt says; absent for reads and dry runs. */
  readonly write?: string;
};

export type OpsOptions = {
  readonly stage?: string;
  readonly region?: string;
  readonly json: boolean;
  readonly yes: boolean;
};

/** The command line is wrong: the CLI prints this and USAGE and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const FLAGS = {
  stage: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean' },
  yes: { type: 'boolean' },
  now: { type: 'string' },
  at: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  reason: { type: 'string' },
  key: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  types: { type: 'string' },
  events: { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

type Values = ReturnType<
  typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true }>
>['values'];

export function parseOpsArgs(
  args: readonly string[],
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): { command: OpsCommand; options: OpsOptions } {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...args], options: FLAGS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (values.stage !== undefined && !/^[a-z0-9-]+$/.test(values.stage)) {
    throw new UsageError(`--stage must be a stage name like dev or prod, got "${values.stage}"`);
  }
  const options: OpsOptions = {
    ...(values.stage && { stage: values.stage }),
    ...(values.region && { region: values.region }),
    json: values.json ?? false,
    yes: values.yes ?? false,
  };
  return { command: commandOf(name, rest, values, readFile), options };
}

function commandOf(
  name: string | undefined,
  rest: readonly string[],
  values: Values,
  readFile: (path: string) => string,
): OpsCommand {
  switch (name) {
    case 'balance':
      return credits(name, {
        action: 'balance',
        customerId: one(rest, 'customerId'),
        ...pick(values, 'now'),
      });
    case 'ledger':
      return credits(name, {
        action: 'ledger',
        customerId: one(rest, 'customerId'),
        ...(values.limit !== undefined && { limit: whole(values.limit, '--limit') }),
        ...pick(values, 'cursor'),
      });
    case 'adjust':
      return adjustCommand(rest, values);
    case 'audit':
      return credits(name, {
        action: 'audit',
        ...(rest.length > 0 && { customerId: one(rest, 'customerId') }),
        ...pick(values, 'now'),
      });
    case 'backfill':
      return backfillCommand(rest, values, readFile);
    case 'rollover':
      return job(
        name,
        OpsFunction.rollover,
        { ...pick(values, 'now') },
        values,
        'run the expiry job',
      );
    case 'migrate':
      return job(name, OpsFunction.migrate, {}, values, 'migrate the table');
    case undefined:
      throw new UsageError('missing the command');
    default:
      throw new UsageError(`unknown command "${name}"`);
  }
}

function credits(name: string, payload: Record<string, unknown>, write?: string): OpsCommand {
  return { name, function: OpsFunction.credits, payload, ...(write && { write }) };
}

function adjustCommand(rest: readonly string[], values: Values): OpsCommand {
  const [customerId, amountText, ...extra] = rest;
  if (!customerId || amountText === undefined || extra.length > 0) {
    throw new UsageError('adjust needs <customerId> <amount>');
  }
  const amount = Number(amountText);
  if (!Number.isInteger(amount) || amount === 0) {
    throw new UsageError(
      `<amount> must be a whole number of credits other than 0, got "${amountText}"`,
    );
  }
  // The key is the caller's: a retried command with the same key applies once (C13, C15).
  if (!values.reason?.trim()) throw new UsageError('adjust needs --reason: say why');
  if (!values.key?.trim())
    throw new UsageError('adjust needs --key <idempotency key>: a retry with it applies once');
  const signed = amount > 0 ? `+${amount}` : String(amount);
  return credits(
    'adjust',
    {
      action: 'adjust',
      customerId,
      amount,
      reason: values.reason,
      idempotencyKey: values.key,
      ...pick(values, 'at'),
    },
    `adjust ${customerId} by ${signed} credits ("${values.reason}")`,
  );
}

function backfillCommand(
  rest: readonly string[],
  values: Values,
  readFile: (path: string) => string,
): OpsCommand {
  if (rest.length > 0) throw new UsageError(`backfill takes no positional arguments, got ${rest}`);
  if ((values.events === undefined) === (values.since === undefined)) {
    throw new UsageError('backfill needs either --since <ISO> or --events <file.json>');
  }
  const source =
    values.events === undefined
      ? {
          since: values.since,
          ...pick(values, 'until'),
          ...(values.types && { types: values.types.split(',').map((type) => type.trim()) }),
        }
      : { events: eventsFrom(readFile, values.events) };
  const what =
    values.events === undefined
      ? `replay Stripe events since ${values.since}`
      : `replay the events of ${values.events}`;
  return job('backfill', OpsFunction.backfill, source, values, what);
}

function eventsFrom(readFile: (path: string) => string, path: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(readFile(path));
  } catch (error) {
    throw new UsageError(`--events ${path}: ${(error as Error).message}`);
  }
  // A file may hold a list, or an Events API page as `stripe events list` prints it.
  const events = Array.isArray(json) ? json : (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(events))
    throw new UsageError(`--events ${path}: expected a JSON list of events`);
  return events;
}

function job(
  name: string,
  fn: OpsFunction,
  payload: Record<string, unknown>,
  values: Values,
  what: string,
): OpsCommand {
  const dryRun = values['dry-run'] ?? false;
  return {
    name,
    function: fn,
    payload: { ...payload, ...(dryRun && { dryRun: true }) },
    ...(!dryRun && { write: what }),
  };
}

function one(rest: readonly string[], what: string): string {
  if (rest.length !== 1 || !rest[0])
    throw new UsageError(`expected one <${what}>, got ${rest.length}`);
  return rest[0];
}

function whole(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`${flag} must be a whole number`);
  return value;
}

function pick<K extends 'now' | 'at' | 'cursor' | 'until'>(values: Values, key: K) {
  const value = values[key];
  return value === undefined ? {} : { [key]: value };
}
