import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { CustomerState } from '../credits/state';
import type { Budget } from './call';
import { callStore } from './call';
import type { StoreDeps } from './client';
import { withHolds } from './hold-items';
import { stateFromItems } from './items';
import { ACCOUNT_SK, customerPk, LOT_PREFIX, SCHEMA_KEY, STATE_PREFIX } from './keys';
import { migrateLegacyCustomer, readLegacyAccount } from './legacy';

/** The shape of the data this code writes; `npm run migrate` brings older tables to it. */
export const SCHEMA_VERSION = 2;

/** A customer's state as one Query read it, and whether that read can seed a spend cache. */
export type StateRead = {
  readonly state: CustomerState;
  /**
   * True when the lots read agree with the account's lot count. A Query is not a snapshot: a
   * transaction landing during the read can show its account update without its lots, or the
   * reverse. Deciding on such a read is still safe (every write is conditioned on what it
   * read), but a spend cache must not keep it, since it could miss a lot for good.
   */
  readonly consistent: boolean;
  /** DynamoDB items read, for the figures (bench, job reports). */
  readonly itemsRead: number;
  /** Set when the customer still has its 0.1.0 item and the caller asked not to migrate it. */
  readonly legacy?: true;
};

/**
 * Reads everything a decision about the customer needs in one strongly consistent Query of
 * the STATE# range (more pages only for a customer with hundreds of lots). A customer last
 * written by 0.1.0 is migrated on first touch, unless the table says it has been migrated.
 */
export async function readState(
  deps: StoreDeps,
  customerId: string,
  budget: Budget,
  options: { migrateLegacy?: boolean } = {},
): Promise<StateRead> {
  const first = await queryState(deps, customerId, budget);
  if (first.state.version > 0 || !(await mayHoldLegacyItems(deps, budget))) return first;
  const legacy = await readLegacyAccount(deps, customerId, budget);
  if (!legacy) return first;
  if (options.migrateLegacy === false) return { ...first, legacy: true };
  await migrateLegacyCustomer(deps, legacy, budget);
  return queryState(deps, customerId, budget);
}

async function queryState(deps: StoreDeps, customerId: string, budget: Budget): Promise<StateRead> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await callStore('Query', budget, (options) =>
      deps.db.send(
        new QueryCommand({
          TableName: deps.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :state)',
          ExpressionAttributeValues: { ':pk': customerPk(customerId), ':state': STATE_PREFIX },
          ConsistentRead: true,
          ...(startKey && { ExclusiveStartKey: startKey }),
        }),
        options,
      ),
    );
    items.push(...((page.Items ?? []) as Record<string, unknown>[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  // Hold items (C25) share the STATE# range; lib/store/hold-items.ts reads them.
  const state = withHolds(stateFromItems(customerId, items), items);
  return { state, consistent: isConsistent(state, items), itemsRead: items.length };
}

function isConsistent(state: CustomerState, items: readonly Record<string, unknown>[]): boolean {
  const hasAccount = items.some((item) => item.sk === ACCOUNT_SK);
  const counted = items.filter(
    (item) => (item.sk as string).startsWith(LOT_PREFIX) && item.quiet !== true,
  ).length;
  return (hasAccount || counted === 0) && counted === state.lotCount;
}

/** Tables known to hold no 0.1.0 items, per client: read once per container, then trusted. */
const migratedTables = new WeakMap<object, Set<string>>();

/**
 * Whether a customer without a current account item may still have a 0.1.0 one. False once
 * the table's SCHEMA item says every item has the current shape (written by `npm run migrate`
 * when it finishes, and by the local table set-up), which saves new customers a read.
 */
async function mayHoldLegacyItems(deps: StoreDeps, budget: Budget): Promise<boolean> {
  const known = migratedTables.get(deps.db);
  if (known?.has(deps.tableName)) return false;
  const response = await callStore('GetItem', budget, (options) =>
    deps.db.send(
      new GetCommand({ TableName: deps.tableName, Key: SCHEMA_KEY, ConsistentRead: true }),
      options,
    ),
  );
  const version = (response.Item?.version as number | undefined) ?? 0;
  if (version < SCHEMA_VERSION) return true;
  migratedTables.set(deps.db, new Set([...(known ?? []), deps.tableName]));
  return false;
}
