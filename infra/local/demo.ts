import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { createCreditsHandler } from '../../functions/credits';
import { createStripeWebhookHandler } from '../../functions/stripe-webhook';
import { createLogger } from '../../lib/log';
import { createDocumentClient } from '../../lib/store/client';
import { webhookDepsFromConfig } from '../../lib/stripe/deps';
import { ensureTable } from '../table';
import { firstInvoicePaid, signedDelivery } from './demo-events';
import { freePort, startDynamoDbLocal } from './dynamodb';
import { startWebhookServer } from './http';

/**
 * `npm run demo`: the product pages' referral example, played through the real webhook handler over
 * real HTTP, on an in-memory DynamoDB Local of its own (so it neither needs nor touches the
 * data of `npm start`):
 *   you start with 100 credits; a friend subscribes to the 500-credit plan with your code;
 *   you get 250 more (350) and your friend starts with 750.
 */
const BASIC_PRICE = 'price_demo_basic_100';
const PRO_PRICE = 'price_demo_pro_500';
const SECRET = 'whsec_demo_secret';
const TABLE = 'image-credits-demo';

type Balance = {
  balance: number;
  lots: { source: string; granted: number; remaining: number; expiresAt: string }[];
};
type Ledger = {
  entries: { type: string; amount: number; balanceAfter: number; at: string; ref: string }[];
};

async function main(): Promise<void> {
  const dynamo = await startDynamoDbLocal({ port: await freePort() });
  const clientConfig = {
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  const raw = new DynamoDBClient(clientConfig);
  const db = createDocumentClient(clientConfig);
  const webhook = createStripeWebhookHandler(() => deps);
  const server = await startWebhookServer({
    port: await freePort(),
    handler: (event) => webhook(event, {} as Context),
  });
  // Handler logs go to a quiet logger: the demo prints its own story on stdout.
  const deps = webhookDepsFromConfig(
    { planCredits: { [BASIC_PRICE]: 100, [PRO_PRICE]: 500 }, webhookSecrets: [SECRET] },
    { db, tableName: TABLE },
    createLogger({ level: 'error' }),
  );
  const credits = createCreditsHandler(() => deps);
  const call = async <T>(input: Record<string, unknown>) =>
    (await credits(input, {} as Context)) as T;
  try {
    await ensureTable(raw, TABLE);
    console.log(
      `DynamoDB Local (in memory) at ${dynamo.endpoint}; webhook at ${server.webhookUrl}\n`,
    );
    const monthStart = Date.now() - 60_000;

    console.log('1. You subscribe to the 100-credit plan (invoice.paid).');
    await deliver(
      server.webhookUrl,
      firstInvoicePaid({
        customerId: 'cus_you',
        subscriptionId: 'sub_you',
        priceId: BASIC_PRICE,
        periodStartMs: monthStart - 86_400_000,
      }),
    );
    await show(call, 'you', 'cus_you');

    const { code } = await call<{ code: string }>({
      action: 'referralCode',
      customerId: 'cus_you',
    });
    console.log(`\n2. You fetch your referral code from your profile: ${code}`);

    console.log('\n3. Your friend subscribes to the 500-credit plan with your code (invoice.paid,');
    console.log('   subscription metadata referral_code).');
    await deliver(
      server.webhookUrl,
      firstInvoicePaid({
        customerId: 'cus_friend',
        subscriptionId: 'sub_friend',
        priceId: PRO_PRICE,
        periodStartMs: monthStart,
        referralCode: code,
      }),
    );

    console.log('\n4. Balances now:');
    const you = await show(call, 'you', 'cus_you');
    const friend = await show(call, 'your friend', 'cus_friend');
    for (const [who, customerId] of [
      ['you', 'cus_you'],
      ['your friend', 'cus_friend'],
    ] as const) {
      const ledger = await call<Ledger>({ action: 'ledger', customerId });
      console.log(`\n   Ledger of ${who} (newest first):`);
      for (const entry of ledger.entries) {
        console.log(
          `     ${entry.at}  ${entry.type.padEnd(15)} ${String(entry.amount).padStart(5)}  -> ${entry.balanceAfter}  (${entry.ref})`,
        );
      }
    }
    const expected = you === 350 && friend === 750;
    console.log(
      `\n${expected ? 'As in the example: 350 and 750.' : `UNEXPECTED: ${you} and ${friend}, not 350 and 750.`}`,
    );
    process.exitCode = expected ? 0 : 1;
  } finally {
    await server.close();
    raw.destroy();
    db.destroy();
    await dynamo.stop();
  }
}

async function deliver(url: string, event: Record<string, unknown>): Promise<void> {
  const { body, signature } = signedDelivery(event, SECRET, Date.now());
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body,
  });
  const answer = (await response.json()) as { outcome?: string };
  console.log(
    `   POST /webhooks/stripe ${event.type} -> ${response.status} ${answer.outcome ?? ''}`,
  );
  if (response.status !== 200)
    throw new Error(`the webhook answered ${response.status}: ${JSON.stringify(answer)}`);
}

async function show(
  call: <T>(input: Record<string, unknown>) => Promise<T>,
  who: string,
  customerId: string,
): Promise<number> {
  const view = await call<Balance>({ action: 'balance', customerId });
  const lots = view.lots.map(
    (lot) => `${lot.source} ${lot.remaining}/${lot.granted} until ${lot.expiresAt.slice(0, 10)}`,
  );
  console.log(
    `   ${who.padEnd(11)} balance ${String(view.balance).padStart(4)}   lots: ${lots.join('; ')}`,
  );
  return view.balance;
}

// Ctrl-C: exit, and the exit hook of startDynamoDbLocal takes the JVM down with us.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => process.exit(130));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
