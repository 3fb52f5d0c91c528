/**
 * The SDK floor bundle (bench only, never deployed): the DynamoDB client with its document
 * layer and the commands the store sends, nothing else, built with the functions' own esbuild
 * settings. No function can start faster than this; `initMsOverSdkFloor` is each bundle's
 * import time over it.
 */
export { DynamoDBClient } from '@aws-sdk/client-dynamodb';
export {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
