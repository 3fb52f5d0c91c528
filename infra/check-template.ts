/**
 * Checks the CloudFormation template that `npx serverless package` writes, offline, against
 * what DESIGN.md and the deployment promise: the table exactly as infra/table.json has it, the
 * six functions on nodejs22.x/arm64, one HTTP route to the webhook and nothing else exposed,
 * no Stripe secret anywhere (only SSM parameter names, each role allowed exactly its own),
 * least-privilege roles per function, the stage's configuration (config/<stage>.json) as the
 * processor will parse it, the stream, bus and Stripe rule of C27 and stripeEventBridge
 * (infra/check-template-events.ts), every dead-letter queue with an alarm on its depth, and
 * alarms on faults only, each with a runbook. Only the forms the
 * framework writes for serverless.yml are understood; anything else is reported, not guessed.
 *
 *   npx tsx infra/check-template.ts [template.json]
 *
 * Exits 1 and lists every problem found. The checks are tested in test/template/ against the
 * real packaged template and broken copies of it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parsePlanCatalog } from '../lib/config';
import { MetricName } from '../lib/metrics';
import { acceptedApiVersions } from '../lib/stripe/events';
import { checkEvents } from './check-template-events';
import { isMainModule } from './local/main-module';
import tableDefinition from './table.json' with { type: 'json' };
import {
  asArray,
  Check,
  FUNCTIONS,
  type FunctionSpec,
  functionNameOf,
  isGetAtt,
  isRecord,
  references,
  SECRET,
  TABLE_ID,
  type Template,
} from './template-model';

export type { Template } from './template-model';
export { FUNCTIONS } from './template-model';

export const DEFAULT_TEMPLATE = '.serverless/cloudformation-template-update-stack.json';
/** Where serverless-esbuild leaves the bundles (`keepOutputDirectory: true`). */
const BUNDLE_DIR = '.esbuild/.build';
const STRIPE_SECRET_VALUE = /\b(sk|rk)_(live|test)_[A-Za-z0-9]{6,}|\bwhsec_[A-Za-z0-9]{6,}/;

const WEBHOOK_ROUTE = 'POST /webhooks/stripe';
/** The only (function, principal) pairs allowed to invoke a function from outside. */
const ALLOWED_INVOKERS = [
  ['stripeWebhook', 'apigateway.amazonaws.com'],
  ['rollover', 'events.amazonaws.com'],
  ['stripeEventBridge', 'events.amazonaws.com'],
];

export type CheckOptions = {
  /** Where docs/runbooks.md and config/ are; default the working directory. */
  readonly root?: string;
};

function checkTable(check: Check) {
  const tables = check.ofType('AWS::DynamoDB::Table').map(([id]) => id);
  if (!isDeepStrictEqual(tables, [TABLE_ID])) {
    check.fail(`expected one DynamoDB table, ${TABLE_ID}; found [${tables}]`);
  }
  if (
    !isDeepStrictEqual(check.props(TABLE_ID), tableDefinition.Resources.CreditsTable.Properties)
  ) {
    check.fail(`${TABLE_ID} properties differ from infra/table.json (is it redefined inline?)`);
  }
}

function checkFunctions(check: Check) {
  const expected = Object.values(FUNCTIONS).map((spec) => spec.logicalId);
  const actual = check.ofType('AWS::Lambda::Function').map(([id]) => id);
  if (!isDeepStrictEqual([...actual].sort(), [...expected].sort())) {
    check.fail(`expected functions [${expected}], found [${actual}]`);
  }
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    const properties = check.props(spec.logicalId);
    if (properties.Handler !== spec.handler) check.fail(`${name}: handler is not ${spec.handler}`);
    if (properties.Runtime !== 'nodejs22.x') check.fail(`${name}: runtime is not nodejs22.x`);
    if (!isDeepStrictEqual(properties.Architectures, ['arm64'])) {
      check.fail(`${name}: architecture is not arm64`);
    }
    if (!isDeepStrictEqual(check.environment(spec).TABLE_NAME, { Ref: TABLE_ID })) {
      check.fail(`${name}: TABLE_NAME must be { Ref: ${TABLE_ID} }`);
    }
  }
}

function checkTriggers(check: Check) {
  const rules = check.ofType('AWS::Events::Rule');
  for (const [id, rule] of rules) {
    const target = functionNameOf(rule.Properties?.Targets);
    // A schedule runs the expiry job; an event pattern is Stripe's partner bus (see
    // check-template-events.ts for what that rule must be).
    const expected = rule.Properties?.ScheduleExpression ? 'rollover' : 'stripeEventBridge';
    if (target !== expected) check.fail(`rule ${id} targets ${target}; only ${expected} may`);
  }
  if (!rules.some(([, rule]) => rule.Properties?.ScheduleExpression)) {
    check.fail('no schedule runs rollover');
  }
  for (const [id, resource] of Object.entries(check.template.Resources)) {
    if (resource.Type.startsWith('AWS::ApiGateway::') || resource.Type === 'AWS::Lambda::Url') {
      check.fail(`${id}: a ${resource.Type} exposes more than the webhook route`);
    }
  }
  const routes = check.ofType('AWS::ApiGatewayV2::Route');
  const keys = routes.map(([, route]) => route.Properties?.RouteKey);
  if (!isDeepStrictEqual(keys, [WEBHOOK_ROUTE])) {
    check.fail(`HTTP routes are ${JSON.stringify(keys)}; expected only "${WEBHOOK_ROUTE}"`);
  }
  for (const [id, integration] of check.ofType('AWS::ApiGatewayV2::Integration')) {
    const target = functionNameOf(integration.Properties?.IntegrationUri);
    if (target !== 'stripeWebhook') check.fail(`integration ${id} reaches ${target ?? 'unknown'}`);
  }
  for (const [id, permission] of check.ofType('AWS::Lambda::Permission')) {
    const name = functionNameOf(permission.Properties?.FunctionName);
    const principal = permission.Properties?.Principal;
    if (!ALLOWED_INVOKERS.some(([fn, who]) => fn === name && who === principal)) {
      check.fail(`${id} lets ${String(principal)} invoke ${name ?? 'an unknown function'}`);
    }
  }
}

/** The stage, from the service name every function's environment carries. */
function stageOf(check: Check): string {
  const service = check.environment(FUNCTIONS.credits as FunctionSpec).POWERTOOLS_SERVICE_NAME;
  const stage =
    typeof service === 'string' ? /^image-credits-([a-z0-9-]+)$/.exec(service)?.[1] : '';
  if (!stage) check.fail('POWERTOOLS_SERVICE_NAME must be image-credits-<stage>');
  return stage ?? '';
}

function parameterName(stage: string, secret: string) {
  return `/image-credits/${stage}/${secret}`;
}

function checkSecrets(check: Check, stage: string) {
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    const environment = check.environment(spec);
    for (const variable of ['STRIPE_WEBHOOK_SECRET', 'STRIPE_SECRET_KEY']) {
      if (variable in environment)
        check.fail(`${name}: ${variable} must not be in the environment`);
    }
    const expected: Record<string, string> = {};
    if (spec.parameters.includes(SECRET.webhook)) {
      expected.STRIPE_WEBHOOK_SECRET_PARAMETER = parameterName(stage, SECRET.webhook);
    }
    if (spec.parameters.includes(SECRET.key)) {
      expected.STRIPE_SECRET_KEY_PARAMETER = parameterName(stage, SECRET.key);
    }
    const actual = Object.fromEntries(
      Object.entries(environment).filter(([variable]) => variable.endsWith('_PARAMETER')),
    );
    if (!isDeepStrictEqual(actual, expected)) {
      check.fail(
        `${name}: secret parameters are ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`,
      );
    }
  }
  const text = JSON.stringify(check.template);
  if (STRIPE_SECRET_VALUE.test(text)) check.fail('a Stripe secret value is in the template');
  if (text.includes('{{resolve:')) check.fail('a dynamic reference puts a value in the template');
}

/** config/<stage>.json as the processor will read it, and the same on every function. */
function checkStageConfig(check: Check, stage: string) {
  const path = resolve(check.root, 'config', `${stage}.json`);
  if (!existsSync(path)) return check.fail(`config/${stage}.json does not exist`);
  const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  for (const name of ['stripeWebhook', 'backfill', 'stripeEventBridge']) {
    const environment = check.environment(FUNCTIONS[name] as FunctionSpec);
    try {
      const catalog = parsePlanCatalog(JSON.parse(String(environment.PLAN_CREDITS)));
      const fromFile = parsePlanCatalog(config.planCredits, `config/${stage}.json planCredits`);
      if (!isDeepStrictEqual(catalog, fromFile)) {
        check.fail(`${name}: PLAN_CREDITS is not config/${stage}.json's planCredits`);
      }
      const versions = String(environment.STRIPE_ACCEPTED_API_VERSIONS ?? '');
      acceptedApiVersions(versions.split(',').filter(Boolean));
      if (!/^\d{1,6}$/.test(String(environment.SECRETS_MAX_AGE_SECONDS))) {
        check.fail(`${name}: SECRETS_MAX_AGE_SECONDS is not a whole number of seconds`);
      }
    } catch (error) {
      check.fail(`${name}: ${(error as Error).message}`);
    }
  }
}

type Statement = { actions: string[]; resources: unknown[] };

function roleStatements(check: Check, name: string, spec: FunctionSpec): Statement[] {
  const roleIds = [...references(check.props(spec.logicalId).Role)].filter((id) =>
    check.isType(id, 'AWS::IAM::Role'),
  );
  const roleId = roleIds[0];
  const shared = Object.values(FUNCTIONS).filter(
    (other) =>
      other !== spec && roleId && references(check.props(other.logicalId).Role).has(roleId),
  );
  if (roleIds.length !== 1 || !roleId || shared.length > 0) {
    check.fail(`${name} must run as a role of its own defined in the template`);
    return [];
  }
  const role = check.props(roleId);
  if (asArray(role.ManagedPolicyArns).length > 0) check.fail(`${roleId} has managed policies`);
  return asArray(role.Policies).flatMap((policy) =>
    asArray((policy as { PolicyDocument?: { Statement?: unknown } }).PolicyDocument?.Statement)
      .filter((statement) => isRecord(statement) && statement.Effect === 'Allow')
      .map((statement) => {
        const { Action, Resource } = statement as Record<string, unknown>;
        return { actions: asArray(Action).map(String), resources: asArray(Resource) };
      }),
  );
}

function checkRoles(check: Check, stage: string, deadLetters: DeadLetters) {
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    const queues = deadLetters.byFunction.get(name) ?? new Set<string>();
    const granted = new Map<string, Set<string>>();
    const grant = (kind: string, action: string) =>
      granted.set(kind, new Set([...(granted.get(kind) ?? []), action]));
    for (const { actions, resources } of roleStatements(check, name, spec)) {
      for (const action of actions) {
        for (const resource of resources) {
          const kind = resourceKind(check, stage, spec, action, resource, queues);
          if (kind) grant(kind, action);
          else check.fail(`${name}: ${action} on ${JSON.stringify(resource)} is not allowed`);
        }
      }
    }
    const expected = new Map<string, Set<string>>(
      Object.entries(spec.dynamodb).map(([kind, actions]) => [kind, new Set(actions)]),
    );
    expected.set('logs', new Set(['logs:CreateLogStream', 'logs:PutLogEvents']));
    if (spec.deadLetter) expected.set('queue', new Set(['sqs:SendMessage']));
    if (spec.putsEvents) expected.set('bus', new Set(['events:PutEvents']));
    for (const parameter of spec.parameters) expected.set(parameter, new Set(['ssm:GetParameter']));
    const show = (map: Map<string, Set<string>>) =>
      JSON.stringify([...map].map(([kind, actions]) => [kind, [...actions].sort()]).sort());
    if (show(granted) !== show(expected)) {
      check.fail(`${name}: role allows ${show(granted)}, expected exactly ${show(expected)}`);
    }
  }
}

/** What an allowed (action, resource) pair is for, or undefined when it is not allowed. */
function resourceKind(
  check: Check,
  stage: string,
  spec: FunctionSpec,
  action: string,
  resource: unknown,
  queues: ReadonlySet<string>,
): string | undefined {
  const service = action.split(':')[0];
  if (action.includes('*')) return undefined;
  if (service === 'dynamodb') {
    if (isGetAtt(resource, TABLE_ID)) return 'table';
    if (isGetAtt(resource, TABLE_ID, 'StreamArn')) return 'stream';
    const sub = isRecord(resource) ? resource['Fn::Sub'] : undefined;
    const index = typeof sub === 'string' && /^\$\{CreditsTable\.Arn\}\/index\/(\w+)$/.exec(sub);
    return index ? `index/${index[1]}` : undefined;
  }
  if (service === 'logs') {
    const functionName = check.props(spec.logicalId).FunctionName;
    const group = check
      .ofType('AWS::Logs::LogGroup')
      .find(([, log]) => log.Properties?.LogGroupName === `/aws/lambda/${String(functionName)}`);
    return group && isGetAtt(resource, group[0]) ? 'logs' : undefined;
  }
  if (service === 'sqs') {
    // Only the function's own failure queue: the one its failures are sent to.
    return [...queues].some((queue) => isGetAtt(resource, queue)) ? 'queue' : undefined;
  }
  if (action === 'events:PutEvents') {
    // Only on this stack's bus (C27): never another bus, never `*`.
    const buses = check.ofType('AWS::Events::EventBus').map(([id]) => id);
    return buses.some((bus) => isGetAtt(resource, bus)) ? 'bus' : undefined;
  }
  if (action === 'ssm:GetParameter' && isRecord(resource)) {
    const arn = resource['Fn::Sub'];
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax.
    const prefix = 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter';
    return Object.values(SECRET).find((secret) => arn === prefix + parameterName(stage, secret));
  }
  return undefined;
}

/** The queues what the functions fail on goes to: by function, and all of them. */
type DeadLetters = {
  readonly byFunction: ReadonlyMap<string, ReadonlySet<string>>;
  readonly all: ReadonlySet<string>;
};

/** The failure queue of one function, by where its spec says its failures go. */
function deadLetterOf(check: Check, spec: FunctionSpec): string | undefined {
  const type =
    spec.deadLetter === 'stream'
      ? 'AWS::Lambda::EventSourceMapping'
      : 'AWS::Lambda::EventInvokeConfig';
  const config = check
    .ofType(type)
    .find(([, each]) => references(each.Properties?.FunctionName).has(spec.logicalId));
  return check.queueOf(config?.[1].Properties?.DestinationConfig);
}

/** Dead-letter destinations and log retention; returns the dead-letter queues found. */
function checkFailureHandling(check: Check): DeadLetters {
  const byFunction = new Map<string, Set<string>>();
  const all = new Set<string>();
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    const queue = deadLetterOf(check, spec);
    if (queue) {
      byFunction.set(name, new Set([queue]));
      all.add(queue);
    }
    if (Boolean(spec.deadLetter) !== Boolean(queue)) {
      const what =
        spec.deadLetter === 'stream' ? 'stream batches given up' : 'failed async invocations';
      check.fail(`${name}: ${what} must ${spec.deadLetter ? '' : 'not '}go to a queue`);
    }
  }
  // The Stripe rule's dead letters (events EventBridge could not deliver) need an alarm too.
  for (const [, rule] of check.ofType('AWS::Events::Rule')) {
    for (const target of asArray(rule.Properties?.Targets)) {
      const queue = check.queueOf((target as { DeadLetterConfig?: unknown }).DeadLetterConfig);
      if (queue) all.add(queue);
    }
  }
  for (const [id, group] of check.ofType('AWS::Logs::LogGroup')) {
    if (typeof group.Properties?.RetentionInDays !== 'number') check.fail(`${id}: no retention`);
  }
  return { byFunction, all };
}

/** The metrics an alarm reads: its own, or those of its metric-math query. */
function alarmMetrics(alarm: Record<string, unknown>) {
  const stats = asArray(alarm.Metrics).map(
    (query) =>
      ((query as { MetricStat?: { Metric?: unknown } }).MetricStat?.Metric ?? {}) as Record<
        string,
        unknown
      >,
  );
  const all = alarm.MetricName ? [alarm, ...stats] : stats;
  return all.filter((metric) => metric.MetricName !== undefined);
}

function checkAlarms(check: Check, stage: string, queues: ReadonlySet<string>) {
  const alarms = check.ofType('AWS::CloudWatch::Alarm');
  const runbooks = runbookAnchors(check.root);
  const appMetrics = new Set<string>(Object.values(MetricName));
  const covered = new Set<string>();
  for (const [id, { Properties: alarm = {} }] of alarms) {
    const topics = [...references(alarm.AlarmActions)].filter((ref) =>
      check.isType(ref, 'AWS::SNS::Topic'),
    );
    if (topics.length === 0) check.fail(`alarm ${id} notifies no SNS topic of this stack`);
    if (!runbooks.has(id.toLowerCase()))
      check.fail(`alarm ${id} has no runbook in docs/runbooks.md`);
    const metrics = alarmMetrics(alarm);
    for (const metric of metrics) {
      if (metric.Namespace === 'ImageCredits') {
        if (!appMetrics.has(String(metric.MetricName))) {
          check.fail(`alarm ${id} reads ${String(metric.MetricName)}, which nothing emits`);
        }
        const service = [{ Name: 'service', Value: `image-credits-${stage}` }];
        if (!isDeepStrictEqual(metric.Dimensions, service)) {
          check.fail(`alarm ${id}: ImageCredits metrics have the one dimension service`);
        }
      }
    }
    for (const [name, spec] of Object.entries(FUNCTIONS)) {
      const errors = metrics.some(
        (metric) =>
          metric.MetricName === 'Errors' && references(metric.Dimensions).has(spec.logicalId),
      );
      if (!errors) continue;
      // A function whose callers' bad input is a Lambda error must have it subtracted.
      const subtracts =
        spec.inputErrors === undefined ||
        (metrics.some((metric) => metric.MetricName === spec.inputErrors) &&
          asArray(alarm.Metrics).some((query) =>
            /^errors - FILL\(input, 0\)$/.test(
              String((query as { Expression?: unknown }).Expression),
            ),
          ));
      if (subtracts) covered.add(name);
      else check.fail(`alarm ${id} pages on ${name}'s callers' input errors`);
    }
  }
  for (const name of Object.keys(FUNCTIONS)) {
    if (!covered.has(name)) check.fail(`${name}: no alarm on its faults`);
  }
  const read = alarms.flatMap(([, alarm]) => alarmMetrics(alarm.Properties ?? {}));
  const readsAll = (metricName: string) =>
    Object.values(FUNCTIONS).every((spec) =>
      read.some((m) => m.MetricName === metricName && references(m.Dimensions).has(spec.logicalId)),
    );
  for (const metricName of ['Throttles', 'Duration']) {
    if (!readsAll(metricName)) check.fail(`no alarm reads ${metricName} of every function`);
  }
  for (const queue of queues) {
    if (
      !read.some(
        (m) =>
          m.MetricName === 'ApproximateNumberOfMessagesVisible' &&
          references(m.Dimensions).has(queue),
      )
    ) {
      check.fail(`dead-letter queue ${queue}: no alarm on its depth`);
    }
  }
  for (const metricName of [
    '5xx',
    'StoreFaults',
    'ContentionFaults',
    'StripeFaults',
    'UnknownPriceFaults',
  ]) {
    if (!read.some((m) => m.MetricName === metricName)) check.fail(`no alarm on ${metricName}`);
  }
}

/** The headings of docs/runbooks.md as GitHub anchors (`## CreditsFaultsAlarm` -> creditsfaultsalarm). */
function runbookAnchors(root: string): Set<string> {
  const path = resolve(root, 'docs/runbooks.md');
  if (!existsSync(path)) return new Set();
  const headings = readFileSync(path, 'utf8').matchAll(/^#{2,3} (.+)$/gm);
  return new Set(
    [...headings].map((match) => String(match[1]).trim().toLowerCase().replace(/\s+/g, '-')),
  );
}

function checkDashboard(check: Check) {
  const dashboards = check.ofType('AWS::CloudWatch::Dashboard');
  if (dashboards.length !== 1) return check.fail('expected one CloudWatch dashboard');
  const body = (dashboards[0]?.[1].Properties?.DashboardBody as { 'Fn::Sub'?: unknown })?.[
    'Fn::Sub'
  ];
  try {
    // ${...} are CloudFormation's, substituted at deploy time; any value keeps the JSON valid.
    const parsed = JSON.parse(String(body).replace(/\$\{[^}]+\}/g, 'x')) as {
      widgets: { properties: { metrics: unknown[][] } }[];
    };
    const known = new Set<string>(Object.values(MetricName));
    for (const widget of parsed.widgets) {
      for (const [namespace, metric] of widget.properties.metrics) {
        if (namespace === 'ImageCredits' && !known.has(String(metric))) {
          check.fail(`the dashboard shows ${String(metric)}, which nothing emits`);
        }
      }
    }
  } catch (error) {
    check.fail(`the dashboard body is not JSON: ${(error as Error).message}`);
  }
}

/** Every problem with `template`; empty when it keeps every promise above. */
export function checkTemplate(template: Template, options: CheckOptions = {}): string[] {
  const check = new Check(template, options.root ?? process.cwd());
  checkTable(check);
  checkFunctions(check);
  checkTriggers(check);
  const stage = stageOf(check);
  checkSecrets(check, stage);
  checkStageConfig(check, stage);
  const deadLetters = checkFailureHandling(check);
  checkRoles(check, stage, deadLetters);
  checkEvents(check);
  checkAlarms(check, stage, deadLetters.all);
  checkDashboard(check);
  return check.problems;
}

/**
 * Imports each built bundle once, and each chunk it imports lazily: a handler that cannot load,
 * or a look-up whose chunk (stripe-node's, for one) is missing, fails here, not in AWS.
 */
export async function checkBundlesLoad(bundleDir = BUNDLE_DIR): Promise<string[]> {
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(FUNCTIONS)) {
    const file = resolve(bundleDir, `${spec.handler.replace(/\.handler$/, '')}.mjs`);
    try {
      const module = (await import(file)) as { handler?: unknown };
      if (typeof module.handler !== 'function')
        problems.push(`${name}: ${file} exports no handler`);
    } catch (error) {
      problems.push(`${name}: ${file} fails to load: ${(error as Error).message}`);
      continue;
    }
    problems.push(...(await checkLazyChunksLoad(name, file)));
  }
  return problems;
}

/** A relative import in esbuild's output: `from"./x.mjs"` (static) or `import("./x.mjs")`. */
const CHUNK_IMPORT = /\bfrom\s*"(\.\.?\/[^"]+\.mjs)"|\bimport\(\s*"(\.\.?\/[^"]+\.mjs)"\s*\)/g;

/** Every chunk the bundle reaches, through static or dynamic imports, exists; the lazy ones load. */
async function checkLazyChunksLoad(name: string, bundle: string): Promise<string[]> {
  const problems: string[] = [];
  const seen = new Set([bundle]);
  const pending = [bundle];
  for (let file = pending.pop(); file; file = pending.pop()) {
    for (const [, staticPath, lazyPath] of readFileSync(file, 'utf8').matchAll(CHUNK_IMPORT)) {
      const chunk = resolve(dirname(file), staticPath ?? lazyPath ?? '');
      if (seen.has(chunk)) continue;
      seen.add(chunk);
      if (!existsSync(chunk)) {
        problems.push(`${name}: ${file} imports ${chunk}, which is not there`);
        continue;
      }
      pending.push(chunk);
      if (lazyPath) {
        try {
          await import(chunk);
        } catch (error) {
          problems.push(`${name}: lazy chunk ${chunk} fails to load: ${(error as Error).message}`);
        }
      }
    }
  }
  return problems;
}

export function readTemplate(path: string): Template {
  if (!existsSync(path))
    throw new Error(`${path} does not exist; run \`npx serverless package\` first`);
  const template = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (!isRecord(template) || !isRecord(template.Resources)) {
    throw new Error(`${path} is not a CloudFormation template with Resources`);
  }
  return template as Template;
}

async function main() {
  const path = process.argv[2] ?? DEFAULT_TEMPLATE;
  const problems = [...checkTemplate(readTemplate(path)), ...(await checkBundlesLoad())];
  if (problems.length > 0) {
    console.error(`template check FAILED for ${path}:`);
    for (const problem of problems) console.error(`  - ${problem}`);
    process.exit(1);
  }
  console.log(
    `template check passed: ${path} (every handler bundle and the chunks it imports lazily load)`,
  );
  process.exit(0);
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(`template check FAILED: ${(error as Error).message}`);
    process.exit(1);
  });
}
