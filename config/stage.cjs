// The per-stage configuration of serverless.yml, from config/<stage>.json: one reviewed file
// per stage, so a deploy can neither forget the plan catalog nor empty it by accident. Every
// key must be written out (an empty catalog is `{}`, on purpose). The values are checked
// again, with the processor's own parsers, by the template test (test/template/).
// CommonJS because the framework loads variable files with require().
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');

const REQUIRED_KEYS = ['planCredits', 'acceptedApiVersions', 'secretsMaxAgeSeconds'];

module.exports = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  const file = path.join(__dirname, `${stage}.json`);
  if (!existsSync(file)) {
    throw new Error(`config/${stage}.json does not exist: each stage has its own reviewed file`);
  }
  const config = JSON.parse(readFileSync(file, 'utf8'));
  for (const key of REQUIRED_KEYS) {
    if (!(key in config)) throw new Error(`config/${stage}.json has no "${key}"`);
  }
  const unknown = Object.keys(config).filter((key) => !REQUIRED_KEYS.includes(key));
  if (unknown.length > 0) throw new Error(`config/${stage}.json: unknown keys ${unknown}`);
  if (!Array.isArray(config.acceptedApiVersions)) {
    throw new Error(`config/${stage}.json: acceptedApiVersions must be a list`);
  }
  // Lambda environment variables are strings: the catalog goes in as the JSON PLAN_CREDITS reads.
  return {
    planCredits: JSON.stringify(config.planCredits),
    acceptedApiVersions: config.acceptedApiVersions.join(','),
    secretsMaxAgeSeconds: String(config.secretsMaxAgeSeconds),
  };
};
