#!/usr/bin/env node
// Regenerates src/gen from proto/ with buf + ts-proto. src/gen is build output: never edit it.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const gen = path.join(root, 'src', 'gen');
fs.rmSync(gen, { recursive: true, force: true });
execFileSync('buf', ['generate'], { cwd: root, stdio: 'inherit' });
