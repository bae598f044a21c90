#!/usr/bin/env node
// Entry point of the `rivya` command. The sources are TypeScript, loaded through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
