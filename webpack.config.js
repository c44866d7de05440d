// @ts-check
'use strict';

/**
 * Bundles for GPT Lab. Exports an array of configs:
 *   extension  ./extension/extension.ts   -> dist/extension.js        (node, commonjs2, vscode external)
 *   worker     ./engine/host/worker.ts         -> dist/engine-worker.js    (node)
 *   cli        ./engine/host/cli.ts            -> dist/cli.js              (node)
 *   webviews   ./webviews/<view>/main.ts  -> dist/webviews/<view>.js, with <view>.css and theme.css (web): every folder of
 *              webviews/ with a main.ts is a view.
 */

const fs = require('node:fs');
const path = require('node:path');

const root = __dirname;
const dist = path.join(root, 'dist');

/** @typedef {import('webpack').Configuration} Configuration */

/**
 * Copies the tfjs wasm backend's .wasm binaries next to the bundles. Emscripten's
 * loader looks for them in `__dirname` at run time, which (with `node.__dirname: false`)
 * is the directory of the bundle, i.e. dist/.
 * @type {import('webpack').WebpackPluginInstance}
 */
const copyWasmPlugin = {
  apply(compiler) {
    compiler.hooks.afterEmit.tap('CopyTfjsWasm', () => {
      const from = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
      const wasmDir = path.join(from, 'dist');
      const to = compiler.outputPath;
      fs.mkdirSync(to, { recursive: true });
      for (const file of fs.readdirSync(wasmDir)) {
        if (file.endsWith('.wasm')) fs.copyFileSync(path.join(wasmDir, file), path.join(to, file));
      }
    });
  },
};

/**
 * Externals for node bundles: optional tfjs-node packages are required at run time only
 * (and only if installed); native addons (`*.node`, anything under native/build) are never
 * bundled but required at run time by a path rewritten relative to dist/.
 * @type {NonNullable<Configuration['externals']>}
 */
const nodeExternals = [
  {
    '@tensorflow/tfjs-node': 'commonjs @tensorflow/tfjs-node',
    '@tensorflow/tfjs-node-gpu': 'commonjs @tensorflow/tfjs-node-gpu',
  },
  ({ context, request }, callback) => {
    if (!request) return callback();
    const isNative = /\.node$/.test(request) || /(^|[\\/])native[\\/]build([\\/]|$)/.test(request);
    if (!isNative) return callback();
    if (request.startsWith('.') && context) {
      // Relative to the source file -> relative to the bundle in dist/.
      let rel = path.relative(dist, path.resolve(context, request)).split(path.sep).join('/');
      if (!rel.startsWith('.')) rel = `./${rel}`;
      return callback(undefined, `commonjs ${rel}`);
    }
    return callback(undefined, `commonjs ${request}`);
  },
];

/**
 * @param {string} tsconfig path of the tsconfig for this part
 * @param {Record<string, unknown>} [compilerOptions] overrides for the bundle
 * @returns {NonNullable<Configuration['module']>}
 */
const tsModule = (tsconfig, compilerOptions = {}) => ({
  rules: [
    {
      test: /\.ts$/,
      exclude: /node_modules/,
      use: [
        {
          loader: 'ts-loader',
          // Type checking is tsc -b's job; a bundle compiles sources of several projects, so rootDir is the repository.
          options: { transpileOnly: true, configFile: path.join(root, tsconfig), compilerOptions: { rootDir: root, ...compilerOptions } },
        },
      ],
    },
  ],
});

/** @type {Configuration} */
const common = {
  devtool: 'source-map',
  performance: { hints: false },
  stats: 'errors-warnings',
  resolve: { extensions: ['.ts', '.js'] },
};

/**
 * @param {string} name
 * @param {string} entry
 * @param {string} filename
 * @param {string} tsconfig
 * @param {Configuration} [extra]
 * @returns {Configuration}
 */
const nodeConfig = (name, entry, filename, tsconfig, extra = {}) => ({
  ...common,
  name,
  target: 'node',
  entry,
  output: {
    path: dist,
    filename,
    libraryTarget: 'commonjs2',
    devtoolModuleFilenameTemplate: '../[resource-path]',
  },
  node: { __dirname: false, __filename: false },
  externals: nodeExternals,
  module: tsModule(tsconfig),
  ...extra,
});

/**
 * Copies each view's stylesheet (webviews/<view>/style.css -> dist/webviews/<view>.css) and the shared theme
 * (webviews/shared/theme.css -> dist/webviews/theme.css). Panels link them; the CSP allows styles only from there.
 * @type {import('webpack').WebpackPluginInstance}
 */
const copyViewStylesPlugin = {
  apply(compiler) {
    compiler.hooks.afterEmit.tap('CopyViewStyles', () => {
      const to = compiler.outputPath;
      fs.mkdirSync(to, { recursive: true });
      const shared = path.join(root, 'webviews', 'shared', 'theme.css');
      if (fs.existsSync(shared)) fs.copyFileSync(shared, path.join(to, 'theme.css'));
      for (const view of viewNames()) {
        const css = path.join(root, 'webviews', view, 'style.css');
        if (fs.existsSync(css)) fs.copyFileSync(css, path.join(to, `${view}.css`));
      }
    });
  },
};

/** Every folder webviews/<view>/ with a main.ts is a view. */
function viewNames() {
  const dir = path.join(root, 'webviews');
  return fs.readdirSync(dir).filter((name) => fs.existsSync(path.join(dir, name, 'main.ts')));
}

/** One web bundle per view: dist/webviews/<view>.js. @returns {Configuration[]} */
function webviewConfigs() {
  const entry = Object.fromEntries(viewNames().map((view) => [view, `./webviews/${view}/main.ts`]));
  if (Object.keys(entry).length === 0) return [];
  return [{
    ...common,
    name: 'webviews',
    target: 'web',
    entry,
    output: {
      path: path.join(dist, 'webviews'),
      filename: '[name].js',
      clean: true, // no stale view bundles in the VSIX
      devtoolModuleFilenameTemplate: '../../[resource-path]',
    },
    // tsc builds the webviews as CommonJS (so node tests load their pure state modules); the bundle keeps ES modules,
    // so webpack tree-shakes the d3 packages.
    module: tsModule('webviews/tsconfig.json', { module: 'esnext', moduleResolution: 'bundler' }),
    plugins: [copyViewStylesPlugin],
  }];
}

/** @type {Configuration[]} */
const configs = [
  nodeConfig('extension', './extension/extension.ts', 'extension.js', 'extension/tsconfig.json', {
    externals: [{ vscode: 'commonjs vscode' }, ...nodeExternals],
  }),
  nodeConfig('worker', './engine/host/worker.ts', 'engine-worker.js', 'engine/tsconfig.json', {
    plugins: [copyWasmPlugin],
    // Node needs no minified code, and tfjs's source maps are 20 MB: readable bundles build in seconds.
    devtool: false,
    optimization: { minimize: false },
  }),
  nodeConfig('cli', './engine/host/cli.ts', 'cli.js', 'engine/tsconfig.json', {
    plugins: [copyWasmPlugin],
    // Node needs no minified code, and tfjs's source maps are 20 MB: readable bundles build in seconds.
    devtool: false,
    optimization: { minimize: false },
  }),
  ...webviewConfigs(),
];

module.exports = configs;
