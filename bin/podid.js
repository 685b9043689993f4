#!/usr/bin/env node
// dist/ is a bundle: with --debug, stack traces name the src/ files through its source maps. Turned on before the
// bundle loads, so that Node reads the maps of every file of it.
if (process.argv.includes("--debug")) process.setSourceMapsEnabled(true);
const { main } = await import("../dist/cli/main.js");

await main(process.argv);
