import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  PutItemCommand,
  ResourceInUseException,
  type StreamViewType,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { SCHEMA_KEY } from '../lib/store/keys';
import { SCHEMA_VERSION } from '../lib/store/state';
import definition from './table.json' with { type: 'json' };

/**
 * The one table definition, shared by serverless.yml (which includes table.json as a
 * CloudFormation resource) and every local set-up (which turns the same JSON into a
 * CreateTable call), so local and deployed tables cannot drift apart.
 */
const properties = definition.Resources.CreditsTable.Properties;

/** The change stream (C27) as UpdateTable names it (CloudFormation omits the flag). */
export const TABLE_STREAM = {
  StreamEnabled: true,
  StreamViewType: properties.StreamSpecification.StreamViewType as StreamViewType,
} as const;

/** The CreateTable input for a table of the given name, derived from infra/table.json. */
export function createTableInput(tableName: string): CreateTableCommandInput {
  // PITR and SSE are CloudFormation-only settings; DynamoDB Local neither needs nor accepts them
  // in CreateTable, and neither changes keys or indexes. The stream (TABLE_STREAM) is turned
  // on by what reads it (ensureStream in infra/local/streams.ts: `npm start`, the publisher's
  // tests): DynamoDB Local writing stream records slows every write by about half, and most
  // tests never read them.
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions:
      properties.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
    KeySchema: properties.KeySchema as CreateTableCommandInput['KeySchema'],
    GlobalSecondaryIndexes:
      properties.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'],
  };
}

/**
 * A table created here holds nothing older than the current shape, and says so, so that the
 * code never looks for 0.1.0 items in it (lib/store/state.ts).
 */
async function markCurrentSchema(client: DynamoDBClient, tableName: string) {
  await client.send(
    new PutItemCommand({
      TableName: tableName,
      Item: marshall({ ...SCHEMA_KEY, version: SCHEMA_VERSION }),
    }),
  );
}

/** Creates the table if it does not exist yet; returns whether it was created. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<boolean> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return false;
  } catch (error) {
    if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
  }
  try {
    await client.send(new CreateTableCommand(createTableInput(tableName)));
    await markCurrentSchema(client, tableName);
    return true;
  } catch (error) {
    // Two processes starting at once may both see no table; the loser's create is a no-op.
    if (error instanceof ResourceInUseException) return false;
    throw error;
  }
}
