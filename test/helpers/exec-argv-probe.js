// Preloaded into a command by test/start-flags.test.ts (NODE_OPTIONS=--import): reports, as the
// process exits, the Node.js flags it was started with.
process.on('exit', () => process.stderr.write('PROBE ' + JSON.stringify({ argv: process.execArgv })));
