import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import definition from './table.json' with { type: 'json' };

/**
 * The one table definition, shared by serverless.yml (which includes table.json as a
 * CloudFormation resource) and every local set-up (which turns the same JSON into a
 * CreateTable call), so local and deployed tables cannot drift apart.
 */
const properties = definition.Resources.CreditsTable.Properties;

/** The CreateTable input for a table of the given name, derived from infra/table.json. */
export function createTableInput(tableName: string): CreateTableCommandInput {
  // PITR and SSE are CloudFormation-only settings; DynamoDB Local neither needs nor accepts them
  // in CreateTable, and neither changes keys or indexes.
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

/** The index the expiry job queries; named once here and in table.json. */
export const EXPIRING_INDEX = properties.GlobalSecondaryIndexes[0]?.IndexName ?? 'expiring';

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
    return true;
  } catch (error) {
    // Two processes starting at once may both see no table; the loser's create is a no-op.
    if (error instanceof ResourceInUseException) return false;
    throw error;
  }
}
