#!/usr/bin/env node
'use strict';
require('../dist/main.js')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
    // The command is done: a connection still opening (a TLS handshake with a peer that accepts
    // and never answers) must not keep the process alive. Exit once what was written is flushed.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
