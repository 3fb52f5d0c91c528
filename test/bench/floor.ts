/**
 * The floor bundle (bench only, never deployed): just the packages every function cannot do
 * without, `stripe` and the DynamoDB client with its document layer, built with the functions'
 * own esbuild settings. Importing it is the least any of our bundles can cost at a cold start.
 */
export { DynamoDBClient } from '@aws-sdk/client-dynamodb';
export {
  BatchGetCommand,
  DynamoDBDocumentClient,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
export { default as Stripe } from 'stripe';
