/**
 * DynamoDB's published sizing and capacity rules, applied to the wire format (AttributeValue
 * JSON) of the requests and responses a bench scenario actually exchanged.
 *
 * Item size ("DynamoDB item sizes and formats"): the sum over attributes of the attribute name's
 * UTF-8 bytes plus the value's size, where
 * - a string is its UTF-8 bytes; a binary its raw bytes;
 * - a number is about 1 byte per two significant digits, plus 1 byte (leading and trailing
 *   zeros trimmed);
 * - a boolean or null is 1 byte;
 * - a list or map is 3 bytes plus its elements, each element 1 byte more (a map element also
 *   counts its key's bytes, as an attribute name);
 * - a set is the sum of its elements.
 *
 * Capacity ("Capacity unit consumption for read and write operations", "Capacity management for
 * transactions"):
 * - a strongly consistent read: 1 RCU per started 4 KB of each item, an absent item included
 *   (BatchGetItem counts each item separately); eventually consistent: half; transactional:
 *   double;
 * - a Query adds up the sizes of the items it returns and rounds up once; an empty Query still
 *   costs the minimum unit;
 * - a write: 1 WCU per started KB of the larger of the item before and after; inside
 *   TransactWriteItems, 2 (prepare and commit); a ConditionCheck is charged as a transactional
 *   write of the item it checks (assumption: the docs list it with the writes);
 * - a global secondary index costs index writes, at the standard rate, for items carrying its
 *   keys: a new entry 1 write, a changed index key 2 (delete the old entry, put the new), an entry
 *   whose keys stay the same 1, an item leaving the index 1 (the delete). With projection ALL an
 *   index entry is the whole item.
 */

export type AttributeValue = {
  readonly S?: string;
  readonly N?: string;
  readonly B?: string;
  readonly BOOL?: boolean;
  readonly NULL?: boolean;
  readonly M?: Readonly<Record<string, AttributeValue>>;
  readonly L?: readonly AttributeValue[];
  readonly SS?: readonly string[];
  readonly NS?: readonly string[];
  readonly BS?: readonly string[];
};
export type Item = Readonly<Record<string, AttributeValue>>;

export const KB = 1024;
export const READ_UNIT_BYTES = 4 * KB;
export const WRITE_UNIT_BYTES = KB;

const utf8Bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** Size of a number by its significant digits (sign, point and leading/trailing zeros dropped). */
export function numberSize(text: string): number {
  const [mantissa = ''] = text.toLowerCase().split('e');
  const digits = mantissa.replace(/[-+.]/g, '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(digits.length / 2) + 1;
}

export function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8Bytes(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return Buffer.from(value.B, 'base64').length;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.M !== undefined) {
    return (
      3 +
      Object.entries(value.M).reduce(
        (sum, [name, inner]) => sum + utf8Bytes(name) + valueSize(inner) + 1,
        0,
      )
    );
  }
  if (value.L !== undefined) {
    return 3 + value.L.reduce((sum, inner) => sum + valueSize(inner) + 1, 0);
  }
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8Bytes(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) {
    return value.BS.reduce((sum, b) => sum + Buffer.from(b, 'base64').length, 0);
  }
  throw new Error(`unknown AttributeValue ${JSON.stringify(value)}`);
}

export function itemSize(item: Item): number {
  return Object.entries(item).reduce(
    (sum, [name, value]) => sum + utf8Bytes(name) + valueSize(value),
    0,
  );
}

/** Read units for items read one by one (GetItem, each key of a BatchGetItem). */
export function readUnits(sizeBytes: number, consistency: 'strong' | 'eventual' | 'transactional') {
  const units = Math.max(1, Math.ceil(sizeBytes / READ_UNIT_BYTES));
  return consistency === 'strong' ? units : consistency === 'eventual' ? units / 2 : units * 2;
}

/** Write units for one item write: the larger of before and after, per started KB. */
export function writeUnits(beforeBytes: number, afterBytes: number, transactional: boolean) {
  const units = Math.max(1, Math.ceil(Math.max(beforeBytes, afterBytes) / WRITE_UNIT_BYTES));
  return transactional ? units * 2 : units;
}
