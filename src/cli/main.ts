#!/usr/bin/env node
/**
 * `krypton`: one executable for every component (docs/design.md section 1).
 */
import { buildProgram } from './program.js';

await buildProgram().parseAsync(process.argv);
