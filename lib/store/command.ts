import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { type Account, type Change, emptyAccount, LotExistsError } from '../credits/account';
import { toIso } from '../credits/time';
import { ContentionError, StoreError } from '../errors';
import type { StoreDeps } from './client';
import { type AccountItem, accountFromItem, accountToItem, ledgerEntryToItem } from './codec';
import { accountKey, factKey } from './keys';

/**
 * What a command decided, given the accounts as they are now:
 * - `apply`: write the changed accounts, their ledger entries and the fact, atomically;
 * - `record`: write only the fact (the command is settled, e.g. ignored with a reason);
 * - `refuse`: write nothing (e.g. insufficient credits), so a retry may still succeed later.
 */
export type Decision<O> =
  | { readonly kind: 'apply'; readonly changes: readonly Change[]; readonly outcome: O }
  | { readonly kind: 'record'; readonly outcome: O }
  | { readonly kind: 'refuse'; readonly outcome: O };

export const CommandStatus = {
  applied: 'applied',
  recorded: 'recorded',
  refused: 'refused',
  alreadyApplied: 'already_applied',
  conflict: 'conflict',
} as const;
export type CommandStatus = (typeof CommandStatus)[keyof typeof CommandStatus];

export type CommandResult<O> = {
  readonly status: CommandStatus;
  readonly outcome: O;
  /** Set when deps.dryRun asked to decide without writing. */
  readonly dryRun?: true;
};

/** The natural key that makes a command idempotent, and what it carried. */
export type Fact = {
  readonly customerId: string;
  /** e.g. `grant#in_123`, `end#sub_123`, `consume#<caller key>`. */
  readonly key: string;
  /** Canonical form of the command's data: the same key with other data is a conflict. */
  readonly fingerprint: string;
};

export type Command<O> = {
  /** Accounts the decision reads; each is written back or checked unchanged in the same transaction. */
  readonly customerIds: readonly string[];
  /** Absent for commands made idempotent by the account's state alone (expiry). */
  readonly fact?: Fact;
  /** Pure: the same accounts give the same decision. */
  decide(accounts: ReadonlyMap<string, Account>): Decision<O>;
  /**
   * Accounts already read elsewhere (the expiry job gets them from its index's projection),
   * used for the first attempt instead of a read; a lost race falls back to a consistent read.
   * Only for commands without a fact.
   */
  readonly preloaded?: ReadonlyMap<string, Account>;
};

type FactItem = {
  pk: string;
  sk: string;
  fingerprint: string;
  outcome: unknown;
  recordedAt: string;
};

/**
 * Reads the accounts and the fact, decides, and writes everything in one transaction that is
 * conditioned on (a) each account's version being the one read and (b) the fact not existing.
 * Losing either condition to a concurrent writer means re-reading and deciding again; a fact
 * that now exists makes the command a no-op that returns the first outcome (C3, C15, C16).
 */
export async function runCommand<O>(
  deps: StoreDeps,
  command: Command<O>,
  clock: () => number = Date.now,
): Promise<CommandResult<O>> {
  const maxAttempts = deps.maxAttempts ?? 40;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const { accounts, fact } =
      attempt === 1 && command.preloaded && !command.fact
        ? { accounts: command.preloaded, fact: undefined }
        : await load(deps, command);
    if (fact) return settled(fact, command.fact);
    const decision = decideOrRetry(command, accounts);
    if (!decision) {
      await backoff(attempt);
      continue;
    }
    if (decision.kind === 'refuse') {
      return { status: CommandStatus.refused, outcome: decision.outcome };
    }
    if (deps.dryRun) {
      // Dry runs stop here: what would be written is decided, nothing is.
      const status = decision.kind === 'apply' ? CommandStatus.applied : CommandStatus.recorded;
      return { status, outcome: decision.outcome, dryRun: true };
    }
    const written = await write(deps, command, accounts, decision, clock());
    if (written) {
      const status = decision.kind === 'apply' ? CommandStatus.applied : CommandStatus.recorded;
      return { status, outcome: decision.outcome };
    }
    await backoff(attempt);
  }
  throw new ContentionError(
    `gave up after ${maxAttempts} attempts against concurrent writers to ${command.customerIds.join(', ')}`,
  );
}

/**
 * The accounts and the fact are read in one BatchGetItem, which is consistent per item but not
 * a snapshot: a writer landing in between can show its lots without its fact. Deciding on that
 * is still safe (the write is conditioned on the fact's absence), except where the rules refuse
 * the impossible state outright; then read again.
 */
function decideOrRetry<O>(
  command: Command<O>,
  accounts: ReadonlyMap<string, Account>,
): Decision<O> | undefined {
  try {
    return command.decide(accounts);
  } catch (error) {
    if (error instanceof LotExistsError && command.fact) return undefined;
    throw error;
  }
}

function settled<O>(item: FactItem, fact: Fact | undefined): CommandResult<O> {
  const status =
    item.fingerprint === fact?.fingerprint ? CommandStatus.alreadyApplied : CommandStatus.conflict;
  return { status, outcome: item.outcome as O };
}

async function load<O>(deps: StoreDeps, command: Command<O>) {
  const keys = command.customerIds.map(accountKey);
  if (command.fact) keys.push(factKey(command.fact.customerId, command.fact.key));
  const items = await batchGet(deps, keys);
  const accounts = new Map<string, Account>();
  for (const customerId of command.customerIds) {
    const item = items.get(`${accountKey(customerId).pk}|${accountKey(customerId).sk}`);
    accounts.set(
      customerId,
      item ? accountFromItem(item as AccountItem) : emptyAccount(customerId),
    );
  }
  const fact = command.fact
    ? (items.get(Object.values(factKey(command.fact.customerId, command.fact.key)).join('|')) as
        | FactItem
        | undefined)
    : undefined;
  return { accounts, fact };
}

/** Strongly consistent batch read of a few keys, following UnprocessedKeys until done. */
export async function batchGet(
  deps: StoreDeps,
  keys: readonly { pk: string; sk: string }[],
): Promise<Map<string, Record<string, unknown>>> {
  const found = new Map<string, Record<string, unknown>>();
  let pending: Record<string, unknown>[] = dedupe(keys);
  for (let round = 1; pending.length > 0; round++) {
    const response = await callStore('BatchGetItem', () =>
      deps.db.send(
        new BatchGetCommand({
          RequestItems: { [deps.tableName]: { Keys: pending, ConsistentRead: true } },
        }),
      ),
    );
    for (const item of response.Responses?.[deps.tableName] ?? []) {
      found.set(`${item.pk}|${item.sk}`, item);
    }
    pending = response.UnprocessedKeys?.[deps.tableName]?.Keys ?? [];
    if (pending.length > 0) {
      if (round >= 10) throw new StoreError('BatchGetItem left keys unprocessed 10 times');
      await backoff(round);
    }
  }
  return found;
}

function dedupe(keys: readonly { pk: string; sk: string }[]) {
  const seen = new Map(keys.map((key) => [`${key.pk}|${key.sk}`, key]));
  return [...seen.values()];
}

async function write<O>(
  deps: StoreDeps,
  command: Command<O>,
  accounts: ReadonlyMap<string, Account>,
  decision: Exclude<Decision<O>, { kind: 'refuse' }>,
  nowMs: number,
): Promise<boolean> {
  const changes = decision.kind === 'apply' ? decision.changes : [];
  const changed = new Set(changes.map((change) => change.account.customerId));
  const items: NonNullable<TransactWriteCommand['input']['TransactItems']> = [];
  for (const change of changes) {
    const before = accounts.get(change.account.customerId);
    if (!before)
      throw new Error(`decision changed ${change.account.customerId}, which it did not read`);
    items.push({
      Put: {
        TableName: deps.tableName,
        Item: accountToItem({ ...change.account, version: before.version }),
        ...versionCondition(before),
      },
    });
    for (const entry of change.entries) {
      items.push({
        Put: {
          TableName: deps.tableName,
          Item: ledgerEntryToItem(change.account.customerId, entry),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      });
    }
  }
  // Accounts read but left unchanged still guard the decision: it was made on their state.
  for (const [customerId, account] of accounts) {
    if (changed.has(customerId)) continue;
    // An account read as absent guards too: the decision assumed it does not exist.
    items.push({
      ConditionCheck: {
        TableName: deps.tableName,
        Key: accountKey(customerId),
        ...versionCondition(account),
      },
    });
  }
  if (command.fact) {
    const fact: FactItem = {
      ...factKey(command.fact.customerId, command.fact.key),
      fingerprint: command.fact.fingerprint,
      outcome: decision.outcome,
      recordedAt: toIso(nowMs),
    };
    items.push({
      Put: {
        TableName: deps.tableName,
        Item: fact,
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    });
  }
  if (items.length === 0) return true;
  return transact(deps, items);
}

function versionCondition(account: Account) {
  if (account.version === 0) return { ConditionExpression: 'attribute_not_exists(pk)' };
  return {
    ConditionExpression: '#version = :version',
    ExpressionAttributeNames: { '#version': 'version' },
    ExpressionAttributeValues: { ':version': account.version },
  };
}

/** Returns false when a condition failed or another transaction got in the way: re-read and retry. */
async function transact(
  deps: StoreDeps,
  items: NonNullable<TransactWriteCommand['input']['TransactItems']>,
): Promise<boolean> {
  try {
    await callStore('TransactWriteItems', () =>
      deps.db.send(new TransactWriteCommand({ TransactItems: items })),
    );
    return true;
  } catch (error) {
    if (error instanceof StoreError && isLostRace(error.cause)) return false;
    throw error;
  }
}

function isLostRace(error: unknown): boolean {
  if (!(error instanceof TransactionCanceledException)) return false;
  const codes = (error.CancellationReasons ?? []).map((reason) => reason.Code ?? 'None');
  return codes.every((code) =>
    ['None', 'ConditionalCheckFailed', 'TransactionConflict'].includes(code),
  );
}

/** Wraps a DynamoDB call so that its failures surface as StoreError with the cause kept. */
export async function callStore<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError(
      `DynamoDB ${operation} failed: ${(error as Error).name ?? 'Error'}`,
      error,
    );
  }
}

/** Full-jitter exponential backoff, capped, between optimistic-locking attempts. */
function backoff(attempt: number): Promise<void> {
  const capMs = Math.min(1_000, 10 * 2 ** Math.min(attempt, 7));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * capMs));
}

/** The account a decision asked for; runCommand always loads every id in `customerIds`. */
export function accountIn(accounts: ReadonlyMap<string, Account>, customerId: string): Account {
  const account = accounts.get(customerId);
  if (!account) throw new Error(`account ${customerId} was not loaded for this command`);
  return account;
}
