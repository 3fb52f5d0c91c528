import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { ensureTable } from '../../infra/table';
import { createDocumentClient, type StoreDeps } from '../../lib/store/client';

export const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export function localClientConfig() {
  return { endpoint: inject('dynamoDbEndpoint'), region: 'local', credentials: localCredentials };
}

/** A fresh table on the suite's DynamoDB Local; tests never share state through it. */
export async function freshTable(prefix = 'test'): Promise<StoreDeps & { drop(): Promise<void> }> {
  const config = localClientConfig();
  const tableName = `${prefix}-${randomUUID()}`;
  const raw = new DynamoDBClient(config);
  await ensureTable(raw, tableName);
  const db = createDocumentClient(config);
  return {
    db,
    tableName,
    async drop() {
      await raw.send(new DeleteTableCommand({ TableName: tableName }));
      raw.destroy();
      db.destroy();
    },
  };
}
