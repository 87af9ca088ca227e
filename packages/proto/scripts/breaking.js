#!/usr/bin/env node
// `buf breaking` against the committed baseline image (baseline/v1.binpb) of the first
// released contract. Without a baseline there is nothing to compare against yet.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const baseline = path.join(root, 'baseline', 'v1.binpb');
if (!fs.existsSync(baseline)) {
  console.log('buf breaking: no baseline at baseline/v1.binpb yet, skipped');
  process.exit(0);
}
execFileSync('buf', ['breaking', '--against', baseline], { cwd: root, stdio: 'inherit' });
console.log('buf breaking: no breaking changes against baseline/v1.binpb');
