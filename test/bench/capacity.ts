import tableDefinition from '../../infra/table.json' with { type: 'json' };
import type { Exchange } from './dynamo-stand-in';
import { type Item, itemSize, readUnits, writeUnits } from './item-size';

/**
 * Read and write capacity of a sequence of exchanges (one event's DynamoDB calls), computed from
 * the items in the requests and responses by DynamoDB's published rules (item-size.ts). The
 * state of an item before a Put comes from what the same event read (a command reads every
 * account it writes), or is "absent" when the Put's condition says the item must not exist.
 */
export type Capacity = {
  readonly rcu: number;
  /** Base-table writes, transactional ones at 2 units per started KB. */
  readonly wcuTable: number;
  /** Index maintenance writes (the `expiring` index), at 1 unit per started KB. */
  readonly wcuIndex: number;
  readonly wcu: number;
  /** Items written to the table (Puts, Deletes) and checked (ConditionCheck). */
  readonly itemsWritten: number;
  /** Largest item written, bytes. */
  readonly largestItemBytes: number;
};

type Index = { readonly name: string; readonly keys: readonly string[] };

const properties = tableDefinition.Resources.CreditsTable.Properties;
const PRIMARY_KEYS = properties.KeySchema.map((key) => key.AttributeName);
const INDEXES: readonly Index[] = properties.GlobalSecondaryIndexes.map((index) => {
  if (index.Projection.ProjectionType !== 'ALL') {
    throw new Error(`index ${index.IndexName}: only projection ALL is sized here`);
  }
  return { name: index.IndexName, keys: index.KeySchema.map((key) => key.AttributeName) };
});

function keyOf(item: Item): string {
  return PRIMARY_KEYS.map((name) => JSON.stringify(item[name] ?? null)).join('|');
}

/** What the event knows of each item: an item, or null for "known to be absent". */
type Known = Map<string, Item | null>;

type Tally = {
  rcu: number;
  wcuTable: number;
  wcuIndex: number;
  itemsWritten: number;
  largest: number;
};

export function capacityOf(exchanges: readonly Exchange[]): Capacity {
  const known: Known = new Map();
  const tally: Tally = { rcu: 0, wcuTable: 0, wcuIndex: 0, itemsWritten: 0, largest: 0 };
  for (const exchange of exchanges) {
    if (exchange.status !== 200) {
      throw new Error(`${exchange.operation} failed (${exchange.status}): not sized`);
    }
    account(exchange, known, tally);
  }
  return {
    rcu: tally.rcu,
    wcuTable: tally.wcuTable,
    wcuIndex: tally.wcuIndex,
    wcu: tally.wcuTable + tally.wcuIndex,
    itemsWritten: tally.itemsWritten,
    largestItemBytes: tally.largest,
  };
}

const SIZERS: Readonly<Record<string, (exchange: Exchange, known: Known, tally: Tally) => void>> = {
  BatchGetItem: batchGet,
  GetItem: getItem,
  Query: query,
  TransactWriteItems: transactWrite,
};

function account(exchange: Exchange, known: Known, tally: Tally): void {
  const sizer = SIZERS[exchange.operation];
  if (!sizer) throw new Error(`capacity of ${exchange.operation} is not modelled by the bench`);
  sizer(exchange, known, tally);
}

type KeysAndAttributes = { Keys: Item[]; ConsistentRead?: boolean; ProjectionExpression?: string };

function batchGet(exchange: Exchange, known: Known, tally: Tally): void {
  const requested = exchange.request.RequestItems as Record<string, KeysAndAttributes>;
  const responses = (exchange.response.Responses ?? {}) as Record<string, Item[]>;
  const unprocessed = (exchange.response.UnprocessedKeys ?? {}) as Record<
    string,
    KeysAndAttributes
  >;
  for (const [table, { Keys, ConsistentRead, ProjectionExpression }] of Object.entries(requested)) {
    if (ProjectionExpression) throw new Error('a projected BatchGetItem would be under-sized');
    const found = new Map((responses[table] ?? []).map((item) => [keyOf(item), item]));
    const skipped = new Set((unprocessed[table]?.Keys ?? []).map(keyOf));
    for (const key of Keys) {
      const id = keyOf(key);
      if (skipped.has(id)) continue;
      const item = found.get(id) ?? null;
      // An absent item still costs the minimum read.
      tally.rcu += readUnits(item ? itemSize(item) : 0, ConsistentRead ? 'strong' : 'eventual');
      known.set(id, item);
    }
  }
}

function getItem(exchange: Exchange, known: Known, tally: Tally): void {
  const request = exchange.request as {
    Key: Item;
    ConsistentRead?: boolean;
    ProjectionExpression?: string;
  };
  if (request.ProjectionExpression) throw new Error('a projected GetItem would be under-sized');
  const item = (exchange.response.Item as Item | undefined) ?? null;
  tally.rcu += readUnits(item ? itemSize(item) : 0, request.ConsistentRead ? 'strong' : 'eventual');
  known.set(keyOf(request.Key), item);
}

/** A Query sums the sizes of what it returns and rounds up once; index reads are eventual. */
function query(exchange: Exchange, known: Known, tally: Tally): void {
  const request = exchange.request as { ConsistentRead?: boolean; IndexName?: string };
  const items = (exchange.response.Items ?? []) as Item[];
  const bytes = items.reduce((sum, item) => sum + itemSize(item), 0);
  tally.rcu += readUnits(
    bytes,
    request.ConsistentRead && !request.IndexName ? 'strong' : 'eventual',
  );
  // Projection ALL: an index item is the table item (as of the index's last update).
  for (const item of items) known.set(keyOf(item), item);
}

type TransactItem = {
  Put?: { Item: Item; ConditionExpression?: string };
  Delete?: { Key: Item };
  ConditionCheck?: { Key: Item };
  Update?: unknown;
};

function transactWrite(exchange: Exchange, known: Known, tally: Tally): void {
  for (const action of exchange.request.TransactItems as TransactItem[]) {
    if (action.Put) {
      const after = action.Put.Item;
      const before = priorState(known, after, action.Put.ConditionExpression);
      write(tally, before, after);
      known.set(keyOf(after), after);
    } else if (action.Delete) {
      const before = priorState(known, action.Delete.Key, undefined);
      write(tally, before, null);
      known.set(keyOf(action.Delete.Key), null);
    } else if (action.ConditionCheck) {
      const checked = priorState(known, action.ConditionCheck.Key, undefined);
      tally.wcuTable += writeUnits(checked ? itemSize(checked) : 0, 0, true);
      tally.itemsWritten += 1;
    } else {
      throw new Error(
        'a transactional Update is not sized by the bench (its result is not in the request)',
      );
    }
  }
}

function priorState(known: Known, key: Item, condition: string | undefined): Item | null {
  const id = keyOf(key);
  if (known.has(id)) return known.get(id) ?? null;
  // The transaction succeeded, so an attribute_not_exists condition on the key held.
  if (condition && /attribute_not_exists\(\s*pk\s*\)/.test(condition)) return null;
  throw new Error(`the event wrote ${id} without reading it first: its prior size is unknown`);
}

function write(tally: Tally, before: Item | null, after: Item | null): void {
  const beforeBytes = before ? itemSize(before) : 0;
  const afterBytes = after ? itemSize(after) : 0;
  tally.wcuTable += writeUnits(beforeBytes, afterBytes, true);
  tally.itemsWritten += 1;
  tally.largest = Math.max(tally.largest, afterBytes);
  for (const index of INDEXES) tally.wcuIndex += indexWriteUnits(index, before, after);
}

function indexKeys(index: Index, item: Item | null): string | undefined {
  if (!item || !index.keys.every((name) => item[name] !== undefined)) return undefined;
  return index.keys.map((name) => JSON.stringify(item[name])).join('|');
}

/** Index maintenance for one table write (standard, not transactional, rate). */
export function indexWriteUnits(index: Index, before: Item | null, after: Item | null): number {
  const oldKeys = indexKeys(index, before);
  const newKeys = indexKeys(index, after);
  const oldBytes = before && oldKeys ? itemSize(before) : 0;
  const newBytes = after && newKeys ? itemSize(after) : 0;
  if (oldKeys === undefined && newKeys === undefined) return 0;
  if (oldKeys === undefined) return writeUnits(0, newBytes, false);
  if (newKeys === undefined) return writeUnits(oldBytes, 0, false);
  if (oldKeys === newKeys) return writeUnits(oldBytes, newBytes, false);
  // The index key changed: the old entry is deleted and a new one put.
  return writeUnits(oldBytes, 0, false) + writeUnits(0, newBytes, false);
}
