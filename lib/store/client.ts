import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** What every store function needs: a document client and the table's name. */
export type StoreDeps = {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  /** How many times a command re-reads and retries after losing a race; default 40. */
  readonly maxAttempts?: number;
  /** Decide every command but write nothing (backfill and rollover dry runs). */
  readonly dryRun?: boolean;
};

/** A document client; `endpoint` points it at DynamoDB Local. */
export function createDocumentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  // Without a request timeout a hung connection would hold the Lambda until its own timeout;
  // a timed-out request is retried by the SDK like any other transient failure.
  const client = new DynamoDBClient({
    requestHandler: { requestTimeout: 5_000, connectionTimeout: 2_000 },
    ...config,
  });
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
}
