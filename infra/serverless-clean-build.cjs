// A local Serverless Framework plugin, listed before serverless-esbuild in serverless.yml: it
// empties serverless-esbuild's build folder before each build. The bundles are split into
// chunks whose names carry a content hash (`splitting` in serverless.yml), and
// serverless-esbuild zips every file of that folder, but only cleans it when
// `keepOutputDirectory` is off (it is on, for infra/check-template.ts): without this, the
// chunks of every earlier build would be packaged too.
// CommonJS because the framework loads plugins with require().
const { rmSync } = require('node:fs');
const path = require('node:path');

/** serverless-esbuild's default work folder and build folder inside it (its constants.js). */
const BUILD_DIR = path.join('.esbuild', '.build');

class CleanEsbuildBuild {
  constructor(serverless) {
    const clean = () => {
      rmSync(path.join(serverless.serviceDir, BUILD_DIR), { recursive: true, force: true });
    };
    this.hooks = {
      'before:package:createDeploymentArtifacts': clean,
      'before:deploy:function:packageFunction': clean,
    };
  }
}

module.exports = CleanEsbuildBuild;
