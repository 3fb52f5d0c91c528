import tableDefinition from '../../infra/table.json' with { type: 'json' };
import type { Exchange } from './dynamo-stand-in';
import { type Item, itemSize, readUnits, writeUnits } from './item-size';

/**
 * Read and write capacity of a sequence of exchanges (one event's DynamoDB calls), by
 * DynamoDB's published rules (item-size.ts). Reads are sized from the items in the responses.
 * Writes are sized from the table as it was just before the event and just after it
 * (snapshots taken around the event outside the recording proxy), so an Update is sized by
 * the item it really left, and a write planned on a cache, without a read, by the item it
 * really overwrote. An item written twice in one event is sized by the larger of its two
 * ends (no event measured here writes an item twice).
 */
export type Capacity = {
  readonly rcu: number;
  /** Base-table writes, transactional ones at 2 units per started KB. */
  readonly wcuTable: number;
  /** Index maintenance writes, at 1 unit per started KB of the index entry. */
  readonly wcuIndex: number;
  readonly wcu: number;
  /** Items written to the table (Puts, Updates, Deletes) and checked (ConditionCheck). */
  readonly itemsWritten: number;
  /** Largest item written, bytes. */
  readonly largestItemBytes: number;
};

/** The table's items by key (see keyOf), as they were before and after the event. */
export type Snapshots = {
  readonly before: ReadonlyMap<string, Item>;
  readonly after: ReadonlyMap<string, Item>;
};

type Index = {
  readonly name: string;
  readonly keys: readonly string[];
  /** The attributes an index entry holds besides the keys; undefined: all of them. */
  readonly projected?: readonly string[];
};

const properties = tableDefinition.Resources.CreditsTable.Properties;
export const PRIMARY_KEYS: readonly string[] = properties.KeySchema.map((key) => key.AttributeName);
const INDEXES: readonly Index[] = properties.GlobalSecondaryIndexes.map((index) => {
  const keys = index.KeySchema.map((key) => key.AttributeName);
  const projection = index.Projection as { ProjectionType: string; NonKeyAttributes?: string[] };
  if (projection.ProjectionType === 'ALL') return { name: index.IndexName, keys };
  const extra = projection.ProjectionType === 'INCLUDE' ? (projection.NonKeyAttributes ?? []) : [];
  return { name: index.IndexName, keys, projected: [...PRIMARY_KEYS, ...extra] };
});

export function keyOf(item: Item): string {
  return PRIMARY_KEYS.map((name) => JSON.stringify(item[name] ?? null)).join('|');
}

type Tally = {
  rcu: number;
  wcuTable: number;
  wcuIndex: number;
  itemsWritten: number;
  largest: number;
};

export function capacityOf(exchanges: readonly Exchange[], snapshots: Snapshots): Capacity {
  const tally: Tally = { rcu: 0, wcuTable: 0, wcuIndex: 0, itemsWritten: 0, largest: 0 };
  for (const exchange of exchanges) {
    if (exchange.status !== 200) {
      throw new Error(`${exchange.operation} failed (${exchange.status}): not sized`);
    }
    if (exchange.operation === 'TransactWriteItems') transactWrite(exchange, snapshots, tally);
    else tally.rcu += readCapacityOf([exchange]);
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

/** Read units of the exchanges' reads (writes count nothing here). */
export function readCapacityOf(exchanges: readonly Exchange[]): number {
  let rcu = 0;
  for (const exchange of exchanges) {
    const reader = READERS[exchange.operation];
    if (reader) rcu += reader(exchange);
    else if (exchange.operation !== 'TransactWriteItems') {
      throw new Error(`capacity of ${exchange.operation} is not modelled by the bench`);
    }
  }
  return rcu;
}

const READERS: Readonly<Record<string, (exchange: Exchange) => number>> = {
  GetItem: getItem,
  Query: query,
};

function getItem(exchange: Exchange): number {
  const request = exchange.request as { ConsistentRead?: boolean; ProjectionExpression?: string };
  // A projection does not lower the cost: DynamoDB charges for the whole item it reads.
  if (request.ProjectionExpression) throw new Error('a projected GetItem would be under-sized');
  const item = exchange.response.Item as Item | undefined;
  // An absent item still costs the minimum read.
  return readUnits(item ? itemSize(item) : 0, request.ConsistentRead ? 'strong' : 'eventual');
}

/** A Query sums the sizes of what it returns and rounds up once; index reads are eventual. */
function query(exchange: Exchange): number {
  const request = exchange.request as { ConsistentRead?: boolean; IndexName?: string };
  const items = (exchange.response.Items ?? []) as Item[];
  const bytes = items.reduce((sum, item) => sum + itemSize(item), 0);
  return readUnits(bytes, request.ConsistentRead && !request.IndexName ? 'strong' : 'eventual');
}

type TransactItem = {
  Put?: { Item: Item };
  Update?: { Key: Item };
  Delete?: { Key: Item };
  ConditionCheck?: { Key: Item };
};

function transactWrite(exchange: Exchange, snapshots: Snapshots, tally: Tally): void {
  for (const action of exchange.request.TransactItems as TransactItem[]) {
    const written = action.Put?.Item ?? action.Update?.Key ?? action.Delete?.Key;
    if (written) {
      const key = keyOf(written);
      write(tally, snapshots.before.get(key) ?? null, snapshots.after.get(key) ?? null);
    } else if (action.ConditionCheck) {
      // Assumption: a ConditionCheck is charged as a transactional write of the item it checks.
      const checked = snapshots.before.get(keyOf(action.ConditionCheck.Key));
      tally.wcuTable += writeUnits(checked ? itemSize(checked) : 0, 0, true);
      tally.itemsWritten += 1;
    } else {
      throw new Error(`a transaction item the bench does not size: ${JSON.stringify(action)}`);
    }
  }
}

function write(tally: Tally, before: Item | null, after: Item | null): void {
  const beforeBytes = before ? itemSize(before) : 0;
  const afterBytes = after ? itemSize(after) : 0;
  tally.wcuTable += writeUnits(beforeBytes, afterBytes, true);
  tally.itemsWritten += 1;
  tally.largest = Math.max(tally.largest, afterBytes);
  for (const index of INDEXES) tally.wcuIndex += indexWriteUnits(index, before, after);
}

/** The index entry an item makes (its keys and projected attributes), or undefined for none. */
function indexEntry(index: Index, item: Item | null): Item | undefined {
  if (!item || !index.keys.every((name) => item[name] !== undefined)) return undefined;
  if (!index.projected) return item;
  const names = new Set([...index.keys, ...index.projected]);
  return Object.fromEntries(Object.entries(item).filter(([name]) => names.has(name)));
}

/**
 * Index maintenance for one table write (standard, not transactional, rate): a new entry 1
 * write, a removed one 1, a changed index key 2 (delete and put), a changed projection 1, and
 * nothing when the entry stays exactly the same (an update of attributes it does not project).
 */
export function indexWriteUnits(index: Index, before: Item | null, after: Item | null): number {
  const old = indexEntry(index, before);
  const next = indexEntry(index, after);
  if (!old && !next) return 0;
  if (!old) return writeUnits(0, itemSize(next as Item), false);
  if (!next) return writeUnits(itemSize(old), 0, false);
  const keysOf = (entry: Item) => index.keys.map((name) => JSON.stringify(entry[name])).join('|');
  if (keysOf(old) !== keysOf(next)) {
    return writeUnits(itemSize(old), 0, false) + writeUnits(0, itemSize(next), false);
  }
  if (JSON.stringify(sortedEntry(old)) === JSON.stringify(sortedEntry(next))) return 0;
  return writeUnits(itemSize(old), itemSize(next), false);
}

function sortedEntry(entry: Item): [string, unknown][] {
  return Object.entries(entry).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
