import { SSMClient } from '@aws-sdk/client-ssm';
import { startAwsJsonServer } from './aws-json-server';

/**
 * A small local stand-in for SSM Parameter Store's GetParameter (AWS JSON 1.1 over HTTP), so
 * tests drive the real SDK client, through Powertools Parameters, without AWS. Each stored
 * parameter keeps a version that `put` bumps, as SSM does. Every GetParameter is recorded.
 * Names in `denied` answer AccessDeniedException; unknown names ParameterNotFound.
 */
export type SsmFake = {
  readonly endpoint: string;
  /** The names asked for, in order, with whether decryption was asked. */
  readonly requests: { name: string; withDecryption: boolean }[];
  readonly denied: Set<string>;
  put(name: string, value: string): void;
  /** An SDK client pointed here, with dummy credentials. */
  client(): SSMClient;
  stop(): Promise<void>;
};

type Stored = { value: string; version: number };

export async function startSsmFake(initial: Record<string, string> = {}): Promise<SsmFake> {
  const parameters = new Map<string, Stored>();
  const requests: SsmFake['requests'] = [];
  const denied = new Set<string>();
  const put = (name: string, value: string) => {
    parameters.set(name, { value, version: (parameters.get(name)?.version ?? 0) + 1 });
  };
  for (const [name, value] of Object.entries(initial)) put(name, value);

  const server = await startAwsJsonServer('AmazonSSM.GetParameter', ({ input }) => {
    const name = String(input.Name);
    const withDecryption = input.WithDecryption === true;
    requests.push({ name, withDecryption });
    if (denied.has(name)) {
      return {
        status: 400,
        body: {
          __type: 'AccessDeniedException',
          message: `not authorized to perform ssm:GetParameter on ${name}`,
        },
      };
    }
    const stored = parameters.get(name);
    if (!stored) return { status: 400, body: { __type: 'ParameterNotFound', message: '' } };
    return {
      status: 200,
      body: {
        Parameter: {
          Name: name,
          Type: 'SecureString',
          // Without decryption SSM returns the ciphertext; the fake makes that obvious.
          Value: withDecryption ? stored.value : 'AQICAHh-ciphertext',
          Version: stored.version,
          ARN: `arn:aws:ssm:us-east-1:000000000000:parameter${name}`,
          DataType: 'text',
        },
      },
    };
  });
  const endpoint = server.endpoint;
  return {
    endpoint,
    requests,
    denied,
    put,
    client: () =>
      new SSMClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      }),
    stop: () => server.stop(),
  };
}
