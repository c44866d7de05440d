#!/usr/bin/env node
// Runs the webpack bundle when it is built (npm ci builds it), else the tsc output.
const fs = require('node:fs');
const path = require('node:path');
const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
const cli = require(fs.existsSync(bundle) ? bundle : path.join(__dirname, '..', 'out', 'engine', 'host', 'cli.js'));
cli.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
