import { isDeepStrictEqual } from 'node:util';
import {
  asArray,
  type Check,
  FUNCTIONS,
  type FunctionSpec,
  functionNameOf,
  isGetAtt,
  isRecord,
  references,
  TABLE_ID,
} from './template-model';

/**
 * The template check's part for C27 and Stripe through EventBridge (called by
 * infra/check-template.ts): the table's stream and the one mapping that reads it, the bus and
 * who may put on it, and the rule on Stripe's partner bus, which exists only when the
 * `stripeEventSource` deploy parameter is given.
 */
export function checkEvents(check: Check) {
  checkStream(check);
  checkBus(check);
  checkStripeRule(check);
}

const publishEvents = FUNCTIONS.publishEvents as FunctionSpec;
const stripeEventBridge = FUNCTIONS.stripeEventBridge as FunctionSpec;

/** One mapping, table stream -> publishEvents, that keeps a shard in order and gives up bounded. */
function checkStream(check: Check) {
  const stream = check.props(TABLE_ID).StreamSpecification as { StreamViewType?: unknown };
  if (stream?.StreamViewType !== 'NEW_AND_OLD_IMAGES') {
    check.fail(
      `${TABLE_ID}: the stream must be NEW_AND_OLD_IMAGES (publishEvents compares a lot's old and new image)`,
    );
  }
  const mappings = check.ofType('AWS::Lambda::EventSourceMapping');
  if (mappings.length !== 1) {
    return check.fail(`expected one stream mapping, to publishEvents; found ${mappings.length}`);
  }
  const [id, mapping] = mappings[0] as [string, { Properties?: Record<string, unknown> }];
  const props = mapping.Properties ?? {};
  const fail = (problem: string) => check.fail(`stream mapping ${id}: ${problem}`);
  if (functionNameOf(props.FunctionName) !== 'publishEvents') fail('must invoke publishEvents');
  if (!isGetAtt(props.EventSourceArn, TABLE_ID, 'StreamArn'))
    fail(`must read ${TABLE_ID}'s stream`);
  if (!asArray(props.FunctionResponseTypes).includes('ReportBatchItemFailures')) {
    fail(
      'needs ReportBatchItemFailures, so that only the failed record and those after it are retried',
    );
  }
  if ((props.ParallelizationFactor ?? 1) !== 1) {
    fail('ParallelizationFactor must be 1: one batch per shard at a time keeps a shard in order');
  }
  const retries = props.MaximumRetryAttempts;
  if (typeof retries !== 'number' || retries < 0) {
    fail(
      'MaximumRetryAttempts must be bounded, or one record that cannot be published blocks its shard',
    );
  }
  if (props.BisectBatchOnFunctionError !== true) {
    fail('BisectBatchOnFunctionError must be on, so a failing record is given up alone');
  }
  if (props.StartingPosition !== 'TRIM_HORIZON') fail('must start at TRIM_HORIZON to miss nothing');
}

/** The statements of every IAM role and policy of the template, with where they are. */
function iamStatements(check: Check) {
  const documents = [
    ...check.ofType('AWS::IAM::Role').flatMap(([id, role]) =>
      asArray(role.Properties?.Policies).map((policy) => ({
        id,
        document: (policy as { PolicyDocument?: unknown }).PolicyDocument,
      })),
    ),
    ...['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'].flatMap((type) =>
      check
        .ofType(type)
        .map(([id, policy]) => ({ id, document: policy.Properties?.PolicyDocument })),
    ),
  ];
  return documents.flatMap(({ id, document }) =>
    asArray((document as { Statement?: unknown } | undefined)?.Statement)
      .filter((statement) => isRecord(statement) && statement.Effect === 'Allow')
      .map((statement) => ({ id, actions: asArray((statement as { Action?: unknown }).Action) })),
  );
}

/** One bus, named in publishEvents' environment, that only publishEvents' role may put on. */
function checkBus(check: Check) {
  const buses = check.ofType('AWS::Events::EventBus').map(([id]) => id);
  if (buses.length !== 1) return check.fail(`expected one event bus; found [${buses}]`);
  const bus = buses[0] as string;
  if (!isDeepStrictEqual(check.environment(publishEvents).EVENT_BUS_NAME, { Ref: bus })) {
    check.fail(`publishEvents: EVENT_BUS_NAME must be { Ref: ${bus} }`);
  }
  const publisherRoles = references(check.props(publishEvents.logicalId).Role);
  for (const { id, actions } of iamStatements(check)) {
    const puts = actions.some((action) => /^(events:(PutEvents|\*)|\*)$/.test(String(action)));
    if (puts && !publisherRoles.has(id))
      check.fail(`${id} allows events:PutEvents; only publishEvents may`);
  }
  for (const [id] of check.ofType('AWS::Events::EventBusPolicy')) {
    check.fail(`${id}: no bus policy; only publishEvents' role puts on ${bus}`);
  }
}

/** The deploy parameter a Condition tests for being given: Fn::Not [Fn::Equals [value, '']]. */
function parameterOfCondition(check: Check, name: string | undefined): string | undefined {
  const condition = name ? check.template.Conditions?.[name] : undefined;
  const not = isRecord(condition) ? asArray(condition['Fn::Not']) : [];
  const equals = isRecord(not[0]) ? asArray(not[0]['Fn::Equals']) : [];
  return equals.length === 2 && equals[1] === '' && typeof equals[0] === 'string'
    ? equals[0]
    : undefined;
}

/**
 * The rule on Stripe's partner bus: under a Condition on the `stripeEventSource` parameter
 * (together with its permission and its dead-letter queue policy), on the bus of that name, for
 * events from that source, to stripeEventBridge, with a retry policy and a dead-letter queue.
 */
function checkStripeRule(check: Check) {
  const rules = check
    .ofType('AWS::Events::Rule')
    .filter(([, rule]) => !rule.Properties?.ScheduleExpression);
  if (rules.length !== 1) {
    return check.fail(
      `expected one rule on Stripe's partner bus (stripeEventSource); found ${rules.length}`,
    );
  }
  const [id, rule] = rules[0] as (typeof rules)[number];
  const fail = (problem: string) => check.fail(`Stripe rule ${id}: ${problem}`);
  const source = parameterOfCondition(check, rule.Condition);
  if (source === undefined) {
    return fail('must exist only when stripeEventSource is given (a Condition testing it for "")');
  }
  const props = rule.Properties ?? {};
  if (props.EventBusName !== source) fail('EventBusName must be the partner source (its bus)');
  if (!isDeepStrictEqual(props.EventPattern, { source: [source] })) {
    fail('EventPattern must be { source: [the partner source] }');
  }
  if (check.environment(stripeEventBridge).STRIPE_EVENT_SOURCE !== source) {
    fail("stripeEventBridge's STRIPE_EVENT_SOURCE must be the same partner source");
  }
  const targets = asArray(props.Targets) as Record<string, unknown>[];
  const target = targets[0] ?? {};
  const retry = target.RetryPolicy as Record<string, unknown> | undefined;
  if (
    typeof retry?.MaximumRetryAttempts !== 'number' ||
    typeof retry.MaximumEventAgeInSeconds !== 'number'
  ) {
    fail('its target needs a RetryPolicy (MaximumRetryAttempts, MaximumEventAgeInSeconds)');
  }
  const queue = check.queueOf(target.DeadLetterConfig);
  if (targets.length !== 1 || !queue)
    fail('its one target needs a dead-letter queue (DeadLetterConfig)');
  checkRuleCompanions(check, id, rule.Condition as string, queue);
  checkBridgeRetries(check);
}

/** The rule's permission and dead-letter queue policy exist with it, for it alone. */
function checkRuleCompanions(
  check: Check,
  ruleId: string,
  condition: string,
  queue: string | undefined,
) {
  const forRule = (value: unknown) => isGetAtt(value, ruleId);
  const permissions = check
    .ofType('AWS::Lambda::Permission')
    .filter(
      ([, permission]) =>
        functionNameOf(permission.Properties?.FunctionName) === 'stripeEventBridge',
    );
  if (
    permissions.length !== 1 ||
    !permissions.every(([, p]) => p.Condition === condition && forRule(p.Properties?.SourceArn))
  ) {
    check.fail(
      `stripeEventBridge: one invoke permission, for ${ruleId} only and under its Condition`,
    );
  }
  const policies = check
    .ofType('AWS::SQS::QueuePolicy')
    .filter(([, policy]) => queue && references(policy.Properties?.Queues).has(queue));
  const allowsRule = (statement: unknown) =>
    isRecord(statement) &&
    isDeepStrictEqual(statement.Principal, { Service: 'events.amazonaws.com' }) &&
    forRule(
      (statement.Condition as { ArnEquals?: Record<string, unknown> })?.ArnEquals?.[
        'aws:SourceArn'
      ],
    );
  const ok = policies.some(
    ([, policy]) =>
      policy.Condition === condition &&
      asArray((policy.Properties?.PolicyDocument as { Statement?: unknown })?.Statement).every(
        allowsRule,
      ),
  );
  if (!ok)
    check.fail(
      `dead-letter queue ${queue}: needs a queue policy letting ${ruleId} (only) send to it`,
    );
}

/** A refused envelope fails every attempt: Lambda's retries of it must be few (0 to 2). */
function checkBridgeRetries(check: Check) {
  const config = check
    .ofType('AWS::Lambda::EventInvokeConfig')
    .find(([, each]) => references(each.Properties?.FunctionName).has(stripeEventBridge.logicalId));
  const retries = config?.[1].Properties?.MaximumRetryAttempts;
  if (typeof retries !== 'number' || retries > 2) {
    check.fail(
      'stripeEventBridge: MaximumRetryAttempts (0 to 2) bounds the retries of a refused event',
    );
  }
}
