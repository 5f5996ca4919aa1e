// The configuration lives in the lint workspace (tools/lint), where its
// plugins and the TypeScript 6 compiler API they need are installed.
export { default } from './tools/lint/eslint.config.js';
