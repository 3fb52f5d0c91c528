/**
 * Checks the CloudFormation template that `npx serverless package` writes, offline, against
 * what DESIGN.md and the deployment brief promise: the table exactly as infra/table.json has
 * it, the four functions on nodejs22.x/arm64, one HTTP route to the webhook and nothing else
 * exposed, Stripe secrets only as SSM references, least-privilege roles per function, and
 * failure handling (dead-letter queue and alarms). Then it imports each built bundle once, to
 * prove the handlers load.
 *
 *   npx tsx infra/check-template.ts [template.json]
 *
 * Exits 1 and lists every problem found; prints a short summary when all is well.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import tableDefinition from './table.json' with { type: 'json' };

type Resource = { Type: string; Properties?: Record<string, unknown> };
type Template = { Resources: Record<string, Resource> };

const DEFAULT_TEMPLATE = '.serverless/cloudformation-template-update-stack.json';
/** Where serverless-esbuild leaves the bundles (`keepOutputDirectory: true`). */
const BUNDLE_DIR = '.esbuild/.build';
const TABLE_ID = 'CreditsTable';
const EXPIRING_INDEX = 'lotsByExpiry';
const SECRET_NAMES = ['STRIPE_WEBHOOK_SECRET', 'STRIPE_SECRET_KEY'] as const;
const SSM_REFERENCE =
  /^\{\{resolve:ssm(-secure)?:\/image-credits\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_./-]+(:\d+)?\}\}$/;
const SECRET_LOOKING_NAME = /SECRET|PASSWORD|TOKEN|_KEY$/;
const STRIPE_SECRET_VALUE = /\b(sk|rk)_(live|test)_[A-Za-z0-9]{6,}|\bwhsec_[A-Za-z0-9]{6,}/;

/** The actions each item of a runCommand transaction or read needs (see serverless.yml). */
const LEDGER_COMMANDS = [
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
] as const;

type FunctionSpec = {
  readonly logicalId: string;
  readonly handler: string;
  /** Secrets this function gets, each an SSM reference; all others must be absent. */
  readonly secrets: readonly (typeof SECRET_NAMES)[number][];
  /** DynamoDB actions by resource: `table`, or `index/<name>`. */
  readonly dynamodb: Readonly<Record<string, readonly string[]>>;
  /** Async failures go to a dead-letter destination (scheduled or invoked-async jobs). */
  readonly deadLetter: boolean;
};

const FUNCTIONS: Readonly<Record<string, FunctionSpec>> = {
  stripeWebhook: {
    logicalId: 'StripeWebhookLambdaFunction',
    handler: 'functions/stripe-webhook.handler',
    secrets: ['STRIPE_WEBHOOK_SECRET', 'STRIPE_SECRET_KEY'],
    dynamodb: { table: LEDGER_COMMANDS },
    deadLetter: false,
  },
  rollover: {
    logicalId: 'RolloverLambdaFunction',
    handler: 'functions/rollover.handler',
    secrets: [],
    dynamodb: { table: LEDGER_COMMANDS, [`index/${EXPIRING_INDEX}`]: ['dynamodb:Query'] },
    deadLetter: true,
  },
  backfill: {
    logicalId: 'BackfillLambdaFunction',
    handler: 'functions/backfill.handler',
    secrets: ['STRIPE_SECRET_KEY'],
    dynamodb: { table: LEDGER_COMMANDS },
    deadLetter: true,
  },
  credits: {
    logicalId: 'CreditsLambdaFunction',
    handler: 'functions/credits.handler',
    secrets: [],
    // Scan: the `audit` action's whole-table pass.
    dynamodb: { table: [...LEDGER_COMMANDS, 'dynamodb:Scan'] },
    deadLetter: false,
  },
};

const WEBHOOK_ROUTE = 'POST /webhooks/stripe';
/** The only (function, principal) pairs allowed to invoke a function from outside. */
const ALLOWED_INVOKERS = [
  ['stripeWebhook', 'apigateway.amazonaws.com'],
  ['rollover', 'events.amazonaws.com'],
] as const;

// ---------------------------------------------------------------------------------------------
// Reading CloudFormation values

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Every logical id a value points at through Ref, Fn::GetAtt or Fn::Sub, at any depth. */
function references(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) references(item, found);
  } else if (isRecord(value)) {
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'Ref' && typeof inner === 'string') found.add(inner);
      else if (key === 'Fn::GetAtt') found.add(getAttTarget(inner) ?? '');
      else if (key === 'Fn::Sub') subReferences(inner, found);
      else references(inner, found);
    }
  }
  found.delete('');
  return found;
}

function getAttTarget(value: unknown): string | undefined {
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  if (typeof value === 'string') return value.split('.')[0];
  return undefined;
}

function subReferences(value: unknown, found: Set<string>) {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string') return;
  for (const match of text.matchAll(/\$\{([A-Za-z0-9]+)[.}]/g)) {
    if (match[1]) found.add(match[1]);
  }
  if (Array.isArray(value)) references(value[1], found);
}

function isGetAttArn(value: unknown, logicalId: string): boolean {
  if (!isRecord(value) || Object.keys(value).length !== 1) return false;
  const target = value['Fn::GetAtt'];
  return (
    isDeepStrictEqual(target, [logicalId, 'Arn']) ||
    (typeof target === 'string' && target === `${logicalId}.Arn`)
  );
}

/** `table`, `index/<name>` of the credits table, or undefined for anything else. */
function tableResourceKind(value: unknown): string | undefined {
  if (isGetAttArn(value, TABLE_ID)) return 'table';
  if (isRecord(value) && typeof value['Fn::Sub'] === 'string') {
    const match = /^\$\{CreditsTable\.Arn\}\/index\/([A-Za-z0-9_.-]+)$/.exec(value['Fn::Sub']);
    if (match) return `index/${match[1]}`;
  }
  if (isRecord(value) && Array.isArray(value['Fn::Join'])) {
    const [separator, parts] = value['Fn::Join'] as [unknown, unknown];
    if (separator === '' && Array.isArray(parts) && parts.length === 2) {
      const match = typeof parts[1] === 'string' && /^\/index\/([A-Za-z0-9_.-]+)$/.exec(parts[1]);
      if (isGetAttArn(parts[0], TABLE_ID) && match) return `index/${match[1]}`;
    }
  }
  return undefined;
}

class Check {
  readonly problems: string[] = [];
  readonly summary: string[] = [];

  constructor(readonly template: Template) {}

  fail(problem: string) {
    this.problems.push(problem);
  }

  resource(logicalId: string): Resource | undefined {
    return this.template.Resources[logicalId];
  }

  ofType(type: string): [string, Resource][] {
    return Object.entries(this.template.Resources).filter(([, resource]) => resource.Type === type);
  }

  props(logicalId: string): Record<string, unknown> {
    return this.resource(logicalId)?.Properties ?? {};
  }

  isType(logicalId: string, type: string): boolean {
    return this.resource(logicalId)?.Type === type;
  }
}

// ---------------------------------------------------------------------------------------------
// The checks

function checkTable(check: Check) {
  const expected = tableDefinition.Resources.CreditsTable;
  const tables = check.ofType('AWS::DynamoDB::Table');
  if (tables.length !== 1 || tables[0]?.[0] !== TABLE_ID) {
    check.fail(`expected one DynamoDB table, ${TABLE_ID}; found [${tables.map(([id]) => id)}]`);
  }
  const actual = check.resource(TABLE_ID);
  if (!actual) return;
  const properties = actual.Properties ?? {};
  for (const key of ['KeySchema', 'AttributeDefinitions', 'GlobalSecondaryIndexes'] as const) {
    if (!isDeepStrictEqual(properties[key], expected.Properties[key])) {
      check.fail(`${TABLE_ID}.${key} differs from infra/table.json`);
    }
  }
  if (!isDeepStrictEqual(properties, expected.Properties)) {
    check.fail(`${TABLE_ID} properties differ from infra/table.json (is it redefined inline?)`);
  }
  const pitr = properties.PointInTimeRecoverySpecification;
  if (!isRecord(pitr) || pitr.PointInTimeRecoveryEnabled !== true) {
    check.fail(`${TABLE_ID} must have point-in-time recovery on`);
  }
  check.summary.push(
    `table ${TABLE_ID}: as infra/table.json (pk/sk, GSI ${EXPIRING_INDEX}), PITR on`,
  );
}

function checkFunctions(check: Check) {
  const expectedIds = Object.values(FUNCTIONS).map((spec) => spec.logicalId);
  const actualIds = check.ofType('AWS::Lambda::Function').map(([id]) => id);
  if (!isDeepStrictEqual([...actualIds].sort(), [...expectedIds].sort())) {
    check.fail(`expected functions [${expectedIds}], found [${actualIds}]`);
  }
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    const properties = check.props(spec.logicalId);
    if (!check.isType(spec.logicalId, 'AWS::Lambda::Function')) continue;
    if (properties.Handler !== spec.handler) {
      check.fail(`${name}: handler is ${String(properties.Handler)}, expected ${spec.handler}`);
    }
    if (properties.Runtime !== 'nodejs22.x') {
      check.fail(`${name}: runtime is ${String(properties.Runtime)}, expected nodejs22.x`);
    }
    if (!isDeepStrictEqual(properties.Architectures, ['arm64'])) {
      check.fail(
        `${name}: architectures are ${JSON.stringify(properties.Architectures)}, expected arm64`,
      );
    }
    if (!isDeepStrictEqual(environmentOf(properties).TABLE_NAME, { Ref: TABLE_ID })) {
      check.fail(`${name}: TABLE_NAME must be { Ref: ${TABLE_ID} }`);
    }
  }
  check.summary.push(`functions: ${Object.keys(FUNCTIONS).join(', ')} (nodejs22.x, arm64)`);
}

function environmentOf(properties: Record<string, unknown>): Record<string, unknown> {
  const environment = properties.Environment;
  const variables = isRecord(environment) ? environment.Variables : undefined;
  return isRecord(variables) ? variables : {};
}

function checkSchedule(check: Check) {
  const rollover = FUNCTIONS.rollover?.logicalId ?? '';
  const functionIds = new Set(Object.values(FUNCTIONS).map((spec) => spec.logicalId));
  const schedules: string[] = [];
  const scheduleResources = [
    ...check.ofType('AWS::Events::Rule'),
    ...check.ofType('AWS::Scheduler::Schedule'),
  ];
  for (const [id, resource] of scheduleResources) {
    const properties = resource.Properties ?? {};
    const expression = properties.ScheduleExpression;
    const targets = [...references(properties.Targets ?? properties.Target)].filter((target) =>
      functionIds.has(target),
    );
    if (typeof expression !== 'string') continue;
    for (const target of targets) {
      if (target === rollover) schedules.push(expression);
      else check.fail(`schedule ${id} targets ${target}; only rollover runs on a schedule`);
    }
  }
  if (schedules.length === 0) check.fail('no schedule rule targets the rollover function');
  else check.summary.push(`schedule: ${schedules.join(', ')} -> rollover`);
}

function functionNameOf(value: unknown): string | undefined {
  const ids = references(value);
  return Object.entries(FUNCTIONS).find(([, spec]) => ids.has(spec.logicalId))?.[0];
}

function checkHttp(check: Check) {
  for (const [id, resource] of Object.entries(check.template.Resources)) {
    if (resource.Type.startsWith('AWS::ApiGateway::')) {
      check.fail(
        `${id}: a REST API resource (${resource.Type}); only the HTTP API route is expected`,
      );
    }
    if (resource.Type === 'AWS::Lambda::Url')
      check.fail(`${id}: a function URL exposes a function`);
  }
  const routes = check.ofType('AWS::ApiGatewayV2::Route');
  const routeKeys = routes.map(([, route]) => route.Properties?.RouteKey);
  if (!isDeepStrictEqual(routeKeys, [WEBHOOK_ROUTE])) {
    check.fail(`HTTP routes are ${JSON.stringify(routeKeys)}; expected only "${WEBHOOK_ROUTE}"`);
  }
  for (const [id, route] of routes) {
    const integrations = [...references(route.Properties?.Target)].filter((ref) =>
      check.isType(ref, 'AWS::ApiGatewayV2::Integration'),
    );
    const targets = integrations.map((ref) => functionNameOf(check.props(ref).IntegrationUri));
    if (!isDeepStrictEqual(targets, ['stripeWebhook'])) {
      check.fail(`route ${id} must target stripeWebhook only; targets ${JSON.stringify(targets)}`);
    }
  }
  for (const [id, integration] of check.ofType('AWS::ApiGatewayV2::Integration')) {
    const target = functionNameOf(integration.Properties?.IntegrationUri);
    if (target !== 'stripeWebhook') check.fail(`integration ${id} reaches ${target ?? 'unknown'}`);
  }
  checkInvokePermissions(check);
  check.summary.push(`http: ${WEBHOOK_ROUTE} -> stripeWebhook, the only route; no other invoker`);
}

function checkInvokePermissions(check: Check) {
  for (const [id, permission] of check.ofType('AWS::Lambda::Permission')) {
    const properties = permission.Properties ?? {};
    const name = functionNameOf(properties.FunctionName);
    const principal = properties.Principal;
    const allowed = ALLOWED_INVOKERS.some(
      ([allowedName, allowedPrincipal]) => allowedName === name && allowedPrincipal === principal,
    );
    if (!allowed) {
      check.fail(`${id} lets ${String(principal)} invoke ${name ?? 'an unknown function'}`);
    }
  }
}

function checkSecrets(check: Check) {
  const exposed: string[] = [];
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    const environment = environmentOf(check.props(spec.logicalId));
    for (const secret of SECRET_NAMES) {
      const value = environment[secret];
      if (!spec.secrets.includes(secret)) {
        if (value !== undefined) check.fail(`${name} must not get ${secret}`);
      } else if (typeof value !== 'string' || !SSM_REFERENCE.test(value)) {
        check.fail(`${name}.${secret} must be an SSM reference {{resolve:ssm:/image-credits/...}}`);
      }
    }
    for (const [variable, value] of Object.entries(environment)) {
      const isReference = typeof value === 'string' && SSM_REFERENCE.test(value);
      if (SECRET_LOOKING_NAME.test(variable) && !isReference) {
        check.fail(`${name}.${variable} looks like a secret but is not an SSM reference`);
      }
    }
    if (spec.secrets.length > 0) exposed.push(`${name} [${spec.secrets.join(', ')}]`);
  }
  const leaked = plaintextSecretsIn(check.template);
  if (leaked.length > 0)
    check.fail(`plaintext Stripe secrets in the template at ${leaked.join(', ')}`);
  check.summary.push(`secrets: SSM references only: ${exposed.join('; ')}`);
}

function plaintextSecretsIn(value: unknown, path = '$'): string[] {
  if (typeof value === 'string') return STRIPE_SECRET_VALUE.test(value) ? [path] : [];
  if (Array.isArray(value))
    return value.flatMap((item, i) => plaintextSecretsIn(item, `${path}[${i}]`));
  if (isRecord(value)) {
    return Object.entries(value).flatMap(([key, inner]) =>
      plaintextSecretsIn(inner, `${path}.${key}`),
    );
  }
  return [];
}

type Statement = { actions: string[]; resources: unknown[] };

/** The role a function runs as, which must be its own, and that role's Allow statements. */
function roleStatements(check: Check, name: string, spec: FunctionSpec): Statement[] | undefined {
  const roleIds = [...references(check.props(spec.logicalId).Role)].filter((id) =>
    check.isType(id, 'AWS::IAM::Role'),
  );
  const roleId = roleIds[0];
  if (roleIds.length !== 1 || !roleId) {
    check.fail(`${name} must run as its own AWS::IAM::Role defined in the template`);
    return undefined;
  }
  const sharedWith = Object.entries(FUNCTIONS).filter(
    ([other, otherSpec]) =>
      other !== name && references(check.props(otherSpec.logicalId).Role).has(roleId),
  );
  if (sharedWith.length > 0) check.fail(`${name} shares role ${roleId} with ${sharedWith[0]?.[0]}`);
  const role = check.props(roleId);
  if (asArray(role.ManagedPolicyArns).length > 0) {
    check.fail(`${roleId} has managed policies; only inline, checked statements are allowed`);
  }
  const documents = [
    ...asArray(role.Policies).map((policy) =>
      isRecord(policy) ? policy.PolicyDocument : undefined,
    ),
    ...check
      .ofType('AWS::IAM::Policy')
      .filter(([, policy]) => references(policy.Properties?.Roles).has(roleId))
      .map(([, policy]) => policy.Properties?.PolicyDocument),
  ];
  return documents.flatMap((document) => allowStatements(check, roleId, document));
}

function allowStatements(check: Check, roleId: string, document: unknown): Statement[] {
  const statements = isRecord(document) ? asArray(document.Statement) : [];
  const allows: Statement[] = [];
  for (const statement of statements) {
    if (!isRecord(statement) || statement.Effect !== 'Allow') continue;
    if ('NotAction' in statement || 'NotResource' in statement) {
      check.fail(`${roleId} uses NotAction/NotResource, which grants more than it names`);
    }
    const actions = asArray(statement.Action).map(String);
    allows.push({ actions, resources: asArray(statement.Resource) });
  }
  return allows;
}

function checkRoles(check: Check, deadLetterQueues: ReadonlySet<string>) {
  const lines: string[] = [];
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    const statements = roleStatements(check, name, spec);
    if (!statements) continue;
    const granted = new Map<string, Set<string>>();
    for (const statement of statements) {
      checkStatement(check, name, spec, statement, granted, deadLetterQueues);
    }
    compareDynamoDbGrants(check, name, spec, granted);
    lines.push(
      `${name} ${[...granted].map(([kind, actions]) => `${kind}[${[...actions].map((a) => a.replace('dynamodb:', '')).sort()}]`).join(' ')}`,
    );
  }
  check.summary.push(`iam, one role per function:\n    ${lines.join('\n    ')}`);
}

function checkStatement(
  check: Check,
  name: string,
  spec: FunctionSpec,
  statement: Statement,
  granted: Map<string, Set<string>>,
  deadLetterQueues: ReadonlySet<string>,
) {
  for (const action of statement.actions) {
    if (action.includes('*')) check.fail(`${name}: wildcard action ${action}`);
  }
  for (const resource of statement.resources) {
    if (typeof resource === 'string' && resource.includes('*')) {
      check.fail(`${name}: wildcard resource ${resource} for ${statement.actions.join(', ')}`);
    }
  }
  for (const [service, actions] of groupByService(statement.actions)) {
    if (service === 'dynamodb') grantDynamoDb(check, name, actions, statement.resources, granted);
    else if (service === 'logs') checkLogs(check, name, spec, actions, statement.resources);
    else if (service === 'sqs' && spec.deadLetter) {
      checkDeadLetterSend(check, name, actions, statement.resources, deadLetterQueues);
    } else check.fail(`${name}: unexpected actions ${actions.join(', ')}`);
  }
}

function groupByService(actions: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const action of actions) {
    const service = action.split(':')[0] ?? '';
    groups.set(service, [...(groups.get(service) ?? []), action]);
  }
  return groups;
}

function grantDynamoDb(
  check: Check,
  name: string,
  actions: string[],
  resources: unknown[],
  granted: Map<string, Set<string>>,
) {
  for (const resource of resources) {
    const kind = tableResourceKind(resource);
    if (!kind) {
      check.fail(
        `${name}: DynamoDB actions on ${JSON.stringify(resource)}, not the table or an index of it`,
      );
      continue;
    }
    const set = granted.get(kind) ?? new Set<string>();
    for (const action of actions) set.add(action);
    granted.set(kind, set);
  }
}

function compareDynamoDbGrants(
  check: Check,
  name: string,
  spec: FunctionSpec,
  granted: ReadonlyMap<string, ReadonlySet<string>>,
) {
  const kinds = new Set([...Object.keys(spec.dynamodb), ...granted.keys()]);
  for (const kind of kinds) {
    const expected = new Set(spec.dynamodb[kind] ?? []);
    const actual = granted.get(kind) ?? new Set<string>();
    const extra = [...actual].filter((action) => !expected.has(action));
    const missing = [...expected].filter((action) => !actual.has(action));
    if (extra.length > 0)
      check.fail(`${name}: ${kind} allows more than it uses: ${extra.join(', ')}`);
    if (missing.length > 0) check.fail(`${name}: ${kind} lacks ${missing.join(', ')}`);
  }
}

function ownLogGroup(check: Check, spec: FunctionSpec): string | undefined {
  const functionName = check.props(spec.logicalId).FunctionName;
  return check
    .ofType('AWS::Logs::LogGroup')
    .find(
      ([, group]) => group.Properties?.LogGroupName === `/aws/lambda/${String(functionName)}`,
    )?.[0];
}

function checkLogs(
  check: Check,
  name: string,
  spec: FunctionSpec,
  actions: string[],
  resources: unknown[],
) {
  const allowed = new Set(['logs:CreateLogStream', 'logs:PutLogEvents']);
  const extra = actions.filter((action) => !allowed.has(action));
  if (extra.length > 0) check.fail(`${name}: unexpected log actions ${extra.join(', ')}`);
  const group = ownLogGroup(check, spec);
  const onOwnGroup =
    group !== undefined && resources.every((resource) => isGetAttArn(resource, group));
  if (!onOwnGroup) check.fail(`${name}: log actions must name only its own log group`);
}

function checkDeadLetterSend(
  check: Check,
  name: string,
  actions: string[],
  resources: unknown[],
  deadLetterQueues: ReadonlySet<string>,
) {
  if (!isDeepStrictEqual(actions, ['sqs:SendMessage'])) {
    check.fail(`${name}: only sqs:SendMessage is needed, found ${actions.join(', ')}`);
  }
  const onQueue = resources.every((resource) =>
    [...deadLetterQueues].some((queue) => isGetAttArn(resource, queue)),
  );
  if (!onQueue) check.fail(`${name}: sqs:SendMessage must name only the dead-letter queue`);
}

/** Checks destinations, alarms and log retention; returns the dead-letter queues found. */
function checkFailureHandling(check: Check): Set<string> {
  const queues = new Set<string>();
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    if (spec.deadLetter) {
      const queue = deadLetterQueueOf(check, spec);
      if (queue) queues.add(queue);
      else
        check.fail(
          `${name}: failed async invocations must go to an SQS queue (destinations.onFailure)`,
        );
    }
    const group = ownLogGroup(check, spec);
    if (!group || typeof check.props(group).RetentionInDays !== 'number') {
      check.fail(`${name}: its log group needs a retention setting`);
    }
  }
  const alarms = check
    .ofType('AWS::CloudWatch::Alarm')
    .map(([id, alarm]): Record<string, unknown> & { id: string } => ({ id, ...alarm.Properties }));
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    const found = alarms.some(
      (alarm) =>
        alarm.Namespace === 'AWS/Lambda' &&
        alarm.MetricName === 'Errors' &&
        references(alarm.Dimensions).has(spec.logicalId),
    );
    if (!found) check.fail(`${name}: no alarm on its Errors metric`);
  }
  for (const queue of queues) {
    const found = alarms.some(
      (alarm) =>
        alarm.Namespace === 'AWS/SQS' &&
        alarm.MetricName === 'ApproximateNumberOfMessagesVisible' &&
        references(alarm.Dimensions).has(queue),
    );
    if (!found) check.fail(`dead-letter queue ${queue}: no alarm on its depth`);
  }
  for (const alarm of alarms) {
    const topics = [...references(alarm.AlarmActions)].filter((id) =>
      check.isType(id, 'AWS::SNS::Topic'),
    );
    if (topics.length === 0) check.fail(`alarm ${alarm.id} notifies no SNS topic of this stack`);
  }
  check.summary.push(
    `failures: rollover, backfill -> ${[...queues].join(', ')}; ${alarms.length} alarms -> SNS; log retention set`,
  );
  return queues;
}

function deadLetterQueueOf(check: Check, spec: FunctionSpec): string | undefined {
  const isQueue = (id: string) => check.isType(id, 'AWS::SQS::Queue');
  for (const [, config] of check.ofType('AWS::Lambda::EventInvokeConfig')) {
    const properties = config.Properties ?? {};
    if (!references(properties.FunctionName).has(spec.logicalId)) continue;
    const destination = isRecord(properties.DestinationConfig)
      ? properties.DestinationConfig.OnFailure
      : undefined;
    const queue = [...references(destination)].find(isQueue);
    if (queue) return queue;
  }
  const deadLetter = check.props(spec.logicalId).DeadLetterConfig;
  return [...references(deadLetter)].find(isQueue);
}

/** Imports each built bundle once: a handler that cannot load fails here, not in AWS. */
async function checkBundlesLoad(check: Check) {
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    const [file, exported] = [
      spec.handler.slice(0, spec.handler.lastIndexOf('.')),
      spec.handler.split('.').pop(),
    ];
    const bundle = resolve(BUNDLE_DIR, `${file}.mjs`);
    if (!existsSync(bundle)) {
      check.fail(`${name}: no bundle at ${bundle}; run \`npx serverless package\` first`);
      continue;
    }
    try {
      const module = (await import(bundle)) as Record<string, unknown>;
      if (typeof module[exported ?? ''] !== 'function') {
        check.fail(`${name}: ${bundle} does not export a function named ${exported}`);
      }
    } catch (error) {
      check.fail(`${name}: ${bundle} fails to load: ${(error as Error).message}`);
    }
  }
  check.summary.push(`bundles: each handler loads from ${join(BUNDLE_DIR, 'functions')}`);
}

// ---------------------------------------------------------------------------------------------

async function checkTemplate(template: Template): Promise<Check> {
  const check = new Check(template);
  checkTable(check);
  checkFunctions(check);
  checkSchedule(check);
  checkHttp(check);
  checkSecrets(check);
  const queues = checkFailureHandling(check);
  checkRoles(check, queues);
  await checkBundlesLoad(check);
  return check;
}

function readTemplate(path: string): Template {
  if (!existsSync(path)) {
    throw new Error(`${path} does not exist; run \`npx serverless package\` first`);
  }
  const template = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (!isRecord(template) || !isRecord(template.Resources)) {
    throw new Error(`${path} is not a CloudFormation template with Resources`);
  }
  return template as Template;
}

async function main() {
  const path = process.argv[2] ?? DEFAULT_TEMPLATE;
  const check = await checkTemplate(readTemplate(path));
  if (check.problems.length > 0) {
    console.error(`template check FAILED for ${path}:`);
    for (const problem of check.problems) console.error(`  - ${problem}`);
    process.exit(1);
  }
  console.log(`template check passed: ${path}`);
  for (const line of check.summary) console.log(`  ${line}`);
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(`template check FAILED: ${(error as Error).message}`);
  process.exit(1);
});
