import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { FACT_PREFIX, LEDGER_PREFIX, LOT_PREFIX } from './keys';

/**
 * The table's change stream (NEW_AND_OLD_IMAGES, infra/table.json), read by publishEvents:
 * one record per item written, as Lambda hands it over, decoded here into plain items so that
 * nothing outside the store reads DynamoDB's attribute-value format.
 */
export type ItemKind = 'ledger' | 'lot' | 'fact' | 'other';

export type TableChange = {
  readonly change: 'INSERT' | 'MODIFY' | 'REMOVE';
  /** The record's place in its shard: what a partial batch failure names. */
  readonly sequenceNumber: string;
  readonly kind: ItemKind;
  readonly pk: string;
  readonly sk: string;
  readonly newItem?: Readonly<Record<string, unknown>>;
  readonly oldItem?: Readonly<Record<string, unknown>>;
};

/** A stream record that is not what this table's stream delivers: a fault, never skipped. */
export class StreamRecordError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'StreamRecordError';
  }
}

export function kindOfSk(sk: string): ItemKind {
  if (sk.startsWith(LEDGER_PREFIX)) return 'ledger';
  if (sk.startsWith(LOT_PREFIX)) return 'lot';
  if (sk.startsWith(FACT_PREFIX)) return 'fact';
  return 'other';
}

/** The record's sequence number, or undefined for a record too broken to name itself. */
export function sequenceNumberOf(record: DynamoDBRecord): string | undefined {
  const sequence = record.dynamodb?.SequenceNumber;
  return typeof sequence === 'string' && sequence.length > 0 ? sequence : undefined;
}

export function decodeStreamRecord(record: DynamoDBRecord): TableChange {
  const sequenceNumber = sequenceNumberOf(record);
  const change = record.eventName;
  if (!sequenceNumber || !change) {
    throw new StreamRecordError('stream record without eventName or dynamodb.SequenceNumber');
  }
  const keys = image(record.dynamodb?.Keys, 'Keys', sequenceNumber);
  const { pk, sk } = keys ?? {};
  if (typeof pk !== 'string' || typeof sk !== 'string') {
    throw new StreamRecordError(`stream record ${sequenceNumber} has no pk and sk`);
  }
  const newItem = image(record.dynamodb?.NewImage, 'NewImage', sequenceNumber);
  const oldItem = image(record.dynamodb?.OldImage, 'OldImage', sequenceNumber);
  return {
    change,
    sequenceNumber,
    kind: kindOfSk(sk),
    pk,
    sk,
    ...(newItem && { newItem }),
    ...(oldItem && { oldItem }),
  };
}

function image(
  value: unknown,
  name: string,
  sequenceNumber: string,
): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    // aws-lambda's attribute-value type and the SDK's are the same JSON, typed twice.
    return unmarshall(value as Record<string, AttributeValue>);
  } catch (error) {
    throw new StreamRecordError(`stream record ${sequenceNumber}: ${name} does not decode`, error);
  }
}
