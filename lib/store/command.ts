import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type CustomerState, LotExistsError, type StateChange, stateAfter } from '../credits/state';
import { toIso } from '../credits/time';
import { type Budget, backoff, callStore, checkTimeForAttempt, defaultBudget } from './call';
import type { StoreDeps } from './client';
import { factKey } from './keys';
import { decideWithLookups } from './lookup';
import { countersAfter, mayPlanOnCache } from './lot-cache';
import {
  guessesOf,
  type Learned,
  learn,
  type PurchaseRead,
  recordChecks,
  withPurchases,
  writtenRecords,
  wrongGuesses,
} from './purchase-reads';
import { mustReleaseFirst, writeReleasesFirst } from './releases';
import { readState, type StateRead } from './state';
import { changeItems, type LotsGuard, type TransactItem, transact } from './transact';

export type { PurchaseRead } from './purchase-reads';

/**
 * What a command decided, given the customers' states as they are now:
 * - `apply`: write the changes, their ledger entries and the fact, atomically; `final: false`
 *   writes the changes without the fact, for a command that needs several transactions (an
 *   end forfeiting more lots than one holds): it runs again until a decision is final;
 * - `record`: write only the fact (the command is settled, e.g. ignored with a reason);
 * - `refuse`: write nothing (e.g. insufficient credits), so a retry may still succeed later.
 */
export type Decision<O> =
  | {
      readonly kind: 'apply';
      readonly changes: readonly StateChange[];
      readonly outcome: O;
      readonly final?: boolean;
      /**
       * Kept on the command's fact beside the outcome, never returned: e.g. what a consumption
       * took, so that a restore can give it back (C26, lib/ledger/holds.ts).
       */
      readonly record?: Readonly<Record<string, unknown>>;
    }
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
  /** Set when the caller asked to decide without writing. */
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
  /** Says what it is in errors, e.g. `consume for cus_1`. */
  readonly label: string;
  /** Customers whose state the decision reads. */
  readonly customerIds: readonly string[];
  /** Absent for commands made idempotent by the state alone (expiry). */
  readonly fact?: Fact;
  /**
   * Purchase records the decision reads (C22-C24), each attached to its customer's state as
   * `purchases`; a change writes them back conditioned on the version read.
   */
  readonly purchases?: readonly PurchaseRead[];
  /**
   * Pure: the same states (and answers) give the same decision. It may throw LookupNeeded
   * (lib/store/lookup.ts) for a fact only Stripe knows, and is then run again with the answer.
   */
  decide(states: ReadonlyMap<string, CustomerState>): Decision<O>;
  /**
   * A spend of one customer decided at `atMs` (the clock's now, never an as-of time): it may
   * be planned on the container's lot cache, and a consistent read refills it.
   */
  readonly cache?: { readonly customerId: string; readonly atMs: number };
  /**
   * Reads what the decision needs beside the customers' states (the consumption a restore gives
   * back, C26), before every attempt, so that an attempt lost to a concurrent writer of it reads
   * it again.
   */
  readonly prepare?: (budget: Budget) => Promise<void>;
};

/** How a call runs: its time budget, and whether it may write (modes are parameters). */
export type RunOptions = {
  readonly budget?: Budget;
  /** Decide every command but write nothing (backfill and rollover dry runs). */
  readonly dryRun?: boolean;
};

type FactItem = {
  pk: string;
  sk: string;
  fingerprint: string;
  outcome: unknown;
  recordedAt: string;
  record?: Readonly<Record<string, unknown>>;
};

/**
 * Reads the customers' states, decides, and writes the decision in one transaction whose
 * conditions are what the decision read and the fact's absence. Losing a condition to a
 * concurrent writer means reading and deciding again, until the budget runs out
 * (ContentionError); a fact that exists makes the command a no-op that returns the first
 * outcome (C3, C15, C16).
 */
export async function runCommand<O>(
  deps: StoreDeps,
  command: Command<O>,
  options: RunOptions = {},
): Promise<CommandResult<O>> {
  const budget = options.budget ?? defaultBudget();
  const cached = await runOnCache(deps, command, { ...options, budget });
  if (cached) return cached;
  const guesses = guessesOf(command.purchases ?? []);
  let reads: StateRead[] | undefined;
  for (let attempt = 1; ; attempt++) {
    checkTimeForAttempt(budget, command.label, attempt - 1);
    if (!reads) {
      await command.prepare?.(budget);
      // One read at a time: a command reads one or two customers, and a test's interleaving
      // driver (test/property) relies on each delivery making one call at a time.
      reads = [];
      for (const id of command.customerIds) reads.push(await readState(deps, id, budget));
    }
    const states = await withPurchases(
      deps,
      command.purchases ?? [],
      new Map(reads.map((read) => [read.state.customerId, read.state])),
      guesses,
      { ...options, budget },
    );
    const decision = await decideWithLookups(() => decideOrRetry(command, states));
    if (!decision) {
      // The state shows the command's own writes: it was applied before, or is being
      // applied right now by a concurrent delivery whose fact is not visible yet.
      const existing = command.fact && (await readFact(deps, command.fact, budget));
      if (existing) return settled(existing, command.fact);
      // Not settled: what the decision guessed of the purchase records may be what misled it
      // (a grant's last transaction written, its reversals still being taken back), so they
      // are read next time.
      guesses.clear();
    } else {
      const result = await carryOut(deps, command, states, decision, { ...options, budget });
      if (!isAgain(result)) {
        remember(deps, command, reads, decision, result);
        return result;
      }
      learn(guesses, result.learned);
      // Only a guessed record was wrong: every other condition held, so the states read still
      // stand (the next write is conditioned on them all the same) and need no second read.
      if (result.keepReads) continue;
    }
    reads = undefined;
    await backoff(attempt, budget);
  }
}

/**
 * A spend planned on the lot cache and written on its guard (lib/store/lot-cache.ts).
 * Undefined when there is no fresh entry, the plan needs a fresh read, or the guard failed.
 */
async function runOnCache<O>(
  deps: StoreDeps,
  command: Command<O>,
  options: RunOptions & { budget: Budget },
): Promise<CommandResult<O> | undefined> {
  const cache = deps.lotCache;
  if (!command.cache || !cache || options.dryRun) return undefined;
  const { customerId, atMs } = command.cache;
  const entry = cache.get(customerId, atMs);
  if (!entry) return undefined;
  const states = new Map([[customerId, entry.state]]);
  const decision = decideOrRetry(command, states);
  // Only a spend's own change of this one customer is written on the cache's guard.
  if (decision?.kind !== 'apply' || decision.changes.length !== 1) return undefined;
  const change = decision.changes[0];
  if (!change || !mayPlanOnCache(entry, change)) return undefined;
  const guard = { lotsVersion: entry.state.lotsVersion, version: entry.state.version };
  const result = await carryOut(deps, command, states, decision, { ...options, guard });
  if (isAgain(result)) {
    cache.forget(customerId);
    return undefined;
  }
  if (result.status === CommandStatus.applied) {
    cache.put(customerId, cachedAfter(entry.state, change), entry.readAtMs);
  } else {
    cache.forget(customerId);
  }
  return result;
}

/** After a write from a fresh read: a spend's consistent read, as changed, fills the cache. */
function remember<O>(
  deps: StoreDeps,
  command: Command<O>,
  reads: readonly StateRead[],
  decision: Decision<O>,
  result: CommandResult<O>,
): void {
  if (!command.cache || !deps.lotCache) return;
  const { customerId, atMs } = command.cache;
  const read = reads.find((each) => each.state.customerId === customerId);
  const change = decision.kind === 'apply' ? decision.changes[0] : undefined;
  if (!read?.consistent || result.status !== CommandStatus.applied || !change) {
    deps.lotCache.forget(customerId);
    return;
  }
  deps.lotCache.put(customerId, cachedAfter(read.state, change), atMs);
}

function cachedAfter(before: CustomerState, change: StateChange): CustomerState {
  return { ...stateAfter(before, change), ...countersAfter(before, change) };
}

/** A decision, or undefined when the read caught a writer half-visible (read again). */
function decideOrRetry<O>(
  command: Command<O>,
  states: ReadonlyMap<string, CustomerState>,
): Decision<O> | undefined {
  try {
    return command.decide(states);
  } catch (error) {
    if (error instanceof LotExistsError && command.fact) return undefined;
    throw error;
  }
}

/**
 * Not settled yet: decide again, after a lost race or the first of several transactions. It
 * says what the cancellation showed of the guessed purchase records, and whether those were
 * all that failed.
 */
type Again = {
  readonly again: true;
  readonly learned: readonly Learned[];
  readonly keepReads: boolean;
};

const AGAIN: Again = { again: true, learned: [], keepReads: false };

function isAgain<O>(result: CommandResult<O> | Again): result is Again {
  return 'again' in result;
}

/** Writes a decision; `Again` when it lost a race or needs another transaction. */
async function carryOut<O>(
  deps: StoreDeps,
  command: Pick<Command<O>, 'fact' | 'purchases'>,
  states: ReadonlyMap<string, CustomerState>,
  decision: Decision<O>,
  options: RunOptions & { budget: Budget; guard?: LotsGuard },
): Promise<CommandResult<O> | Again> {
  if (decision.kind === 'refuse') {
    // A refusal writes nothing, so only a read tells whether this is a retry of a command
    // that succeeded before (C15: a retried spend returns the first result).
    const existing = command.fact && (await readFact(deps, command.fact, options.budget));
    if (existing) return settled(existing, command.fact);
    return { status: CommandStatus.refused, outcome: decision.outcome };
  }
  const status = decision.kind === 'apply' ? CommandStatus.applied : CommandStatus.recorded;
  if (options.dryRun) return { status, outcome: decision.outcome, dryRun: true };
  const changes = decision.kind === 'apply' ? decision.changes : [];
  const items: TransactItem[] = changes.flatMap((change) =>
    changeItems(deps, stateOf(states, change.customerId), change, options.guard),
  );
  items.push(...recordChecks(deps.tableName, command.purchases ?? [], states, items));
  const final = decision.kind === 'record' || decision.final !== false;
  // A batch that is not the last checks that the command is not settled yet: a concurrent
  // delivery that finished it would otherwise see a batch of a downgrade cut twice.
  const factCheck =
    command.fact &&
    (final ? factItem(deps, command.fact, decision) : factAbsent(deps, command.fact));
  const factIndex = factCheck ? items.push(factCheck) - 1 : -1;
  // C20: more months come due than fit beside the write are recorded first, on their own.
  if (
    mustReleaseFirst(items, changes) &&
    (await writeReleasesFirst(deps, states, changes, options.budget))
  ) {
    return AGAIN;
  }
  const written = await transact(deps, items, options.budget, factIndex);
  if (written.kind === 'settled') return settled(written.item as FactItem, command.fact);
  if (written.kind === 'lost')
    return { again: true, ...wrongGuesses(command.purchases ?? [], items, written.reasons) };
  // A change that needs another transaction runs again from a fresh read, on the records it
  // wrote.
  if (final) return { status, outcome: decision.outcome };
  return {
    again: true,
    learned: writtenRecords(command.purchases ?? [], changes),
    keepReads: false,
  };
}

function stateOf(states: ReadonlyMap<string, CustomerState>, customerId: string) {
  const state = states.get(customerId);
  if (!state) throw new Error(`decision changed ${customerId}, which it did not read`);
  return state;
}

function factItem<O>(deps: StoreDeps, fact: Fact, decision: Decision<O>): TransactItem {
  const item: FactItem = {
    ...factKey(fact.customerId, fact.key),
    fingerprint: fact.fingerprint,
    outcome: decision.outcome,
    recordedAt: toIso(Date.now()),
    ...(decision.kind === 'apply' && decision.record && { record: decision.record }),
  };
  return {
    Put: {
      TableName: deps.tableName,
      Item: item,
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
  };
}

/** The condition that the command's fact does not exist, returning it when it does. */
function factAbsent(deps: StoreDeps, fact: Fact): TransactItem {
  return {
    ConditionCheck: {
      TableName: deps.tableName,
      Key: factKey(fact.customerId, fact.key),
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
  };
}

function settled<O>(item: FactItem, fact: Fact | undefined): CommandResult<O> {
  const status =
    item.fingerprint === fact?.fingerprint ? CommandStatus.alreadyApplied : CommandStatus.conflict;
  return { status, outcome: item.outcome as O };
}

/** The fact of a command applied before, if any (a refusal's check; duplicate short-cuts). */
export async function readFact(
  deps: StoreDeps,
  fact: Pick<Fact, 'customerId' | 'key'>,
  budget: Budget,
): Promise<FactItem | undefined> {
  const response = await callStore('GetItem', budget, (options) =>
    deps.db.send(
      new GetCommand({
        TableName: deps.tableName,
        Key: factKey(fact.customerId, fact.key),
        ConsistentRead: true,
      }),
      options,
    ),
  );
  return response.Item as FactItem | undefined;
}

/** The state a decision asked for; runCommand always reads every id in `customerIds`. */
export function stateIn(
  states: ReadonlyMap<string, CustomerState>,
  customerId: string,
): CustomerState {
  const state = states.get(customerId);
  if (!state) throw new Error(`state of ${customerId} was not read for this command`);
  return state;
}
