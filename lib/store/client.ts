import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LotCache } from './lot-cache';

/** What every store function needs: a document client and the table's name. */
export type StoreDeps = {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  /**
   * The container's cache of hot customers' lots (lib/store/lot-cache.ts), so that a burst of
   * spends by one customer costs one DynamoDB call each. Absent: every spend reads first.
   */
  readonly lotCache?: LotCache;
};

/** A single request that takes longer than this is abandoned and retried by the SDK. */
export const REQUEST_TIMEOUT_MS = 3_000;
export const CONNECTION_TIMEOUT_MS = 1_000;

/** A document client; `endpoint` points it at DynamoDB Local. */
export function createDocumentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  // smithy's handler only warns about a request past requestTimeout unless told to throw: a
  // hung connection would otherwise hold the Lambda until its own timeout. A timed-out request
  // is retried by the SDK like any other transient failure, within the caller's budget.
  const client = new DynamoDBClient({
    requestHandler: {
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
    ...config,
  });
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
}
