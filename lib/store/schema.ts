import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { toIso } from '../credits/time';
import { type Budget, callStore } from './call';
import type { StoreDeps } from './client';
import { SCHEMA_KEY } from './keys';
import { SCHEMA_VERSION } from './state';

/**
 * Says in the table that every item has the current shape, so that reads stop looking for
 * 0.1.0 items (lib/store/state.ts). Only a migration that found none left may write it: a
 * 0.1.0 customer in a table marked current would never be converted and would read as empty.
 */
export async function markTableCurrent(deps: StoreDeps, budget: Budget): Promise<void> {
  await callStore('PutItem', budget, (options) =>
    deps.db.send(
      new PutCommand({
        TableName: deps.tableName,
        Item: { ...SCHEMA_KEY, version: SCHEMA_VERSION, migratedAt: toIso(Date.now()) },
      }),
      options,
    ),
  );
}
