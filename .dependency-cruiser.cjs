// The import graph's rules, checked by `npm run lint` (depcruise). Type-only
// imports count: a cycle of types is still two modules that cannot be read,
// moved or tested one without the other.
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycle anywhere in src/, bench/ or the client package.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'storage-engine-is-generic',
      severity: 'error',
      comment: 'The generic store (engines, transactions, dialects) knows nothing of the KSI, the mesh or the actors.',
      from: { path: '^src/storage/[^/]+\\.ts$' },
      to: { path: '^src/(storage/(ksi|orbital)/|core/|mesh/|gateway/|registry/|cmk/)' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules)/' },
  },
};
