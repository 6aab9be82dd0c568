// One lint configuration for every package: ESLint's and typescript-eslint's recommended rules,
// the 140-column limit, and the package boundaries of ../shared/ARCHITECTURE.md ("Who may depend
// on whom") as rules that fail the lint.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Which of our packages (and which of their entries) each package may import. A service is
// reached through its client entry; hosting one (the daemon, a test that starts the service it
// talks to) is the only reason to import its main entry, and those files are listed below.
// @nx/eslint-plugin's enforce-module-boundaries works per project, not per entry point, and its
// current release pulls a second, older nx into the workspace; this table is the same check.
const SERVICES = ['@ctl/containerd-lite', '@ctl/snapshotter', '@ctl/netd'];
const BOUNDARIES = {
  proto: { allowed: [] },
  'packages/runtime-native': { allowed: ['@ctl/proto'] },
  'packages/snapshotter': { allowed: ['@ctl/proto', '@ctl/runtime-native'] },
  'packages/netd': { allowed: ['@ctl/proto', '@ctl/runtime-native'] },
  'packages/containerd-lite': {
    allowed: ['@ctl/proto', '@ctl/runtime-native', '@ctl/snapshotter/client', '@ctl/snapshotter/wire', '@ctl/netd/client'],
  },
  // The CLI speaks gRPC through the services' light client entries, and the shim's attach
  // protocol through runtime-native's; runtime-native/user resolves `exec -u` names in the
  // rootfs that ctl.run.v1 Inspect names (a candidate to move behind the API); runtime-native/xattr
  // reads the build context's extended attributes (its addon loaded by `ctl build` alone);
  // runtime-native/socket is the unix socket the light clients connect through (no node:net).
  'packages/cli': {
    allowed: [
      '@ctl/proto',
      '@ctl/containerd-lite/client',
      '@ctl/snapshotter/client',
      '@ctl/netd/client',
      '@ctl/runtime-native/attach',
      '@ctl/runtime-native/user',
      '@ctl/runtime-native/xattr',
      '@ctl/runtime-native/socket',
    ],
  },
};
// Files that host other services in-process; they may import those services' main entries.
const HOSTS = {
  'packages/cli/src/commands/daemon.ts': SERVICES,
  'packages/cli/test/**/*.ts': SERVICES,
  'packages/containerd-lite/test/instance.ts': ['@ctl/snapshotter', '@ctl/netd'],
};

const OURS = ['@ctl/proto', '@ctl/runtime-native', ...SERVICES];

/** Why `source` may not be imported from a package that may import `allowed`, or undefined. */
function forbidden(source, allowed) {
  const pkg = OURS.find((p) => source === p || source.startsWith(`${p}/`));
  if (!pkg || allowed.includes(pkg) || allowed.includes(source)) return undefined;
  const entries = allowed.filter((a) => a.startsWith(`${pkg}/`));
  return entries.length ? `this package may use ${pkg} only through ${entries.join(', ')}` : `this package may not depend on ${pkg}`;
}

// One rule for every way TypeScript and Node load a module: import and export ... from,
// require(), import() and `typeof import()` types (no-restricted-imports sees only the first).
const boundaries = {
  meta: { type: 'problem', schema: [{ type: 'array', items: { type: 'string' } }] },
  create(context) {
    const allowed = context.options[0] ?? [];
    const check = (node, source) => {
      if (typeof source !== 'string') return;
      const why = forbidden(source, allowed);
      if (why) context.report({ node, message: `'${source}': ${why} (see eslint.config.mjs BOUNDARIES)` });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => check(node, node.source.value),
      TSImportType: (node) => check(node, node.argument?.literal?.value ?? node.argument?.value),
      CallExpression: (node) => {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require') check(node, node.arguments[0]?.value);
      },
    };
  },
};
const restrictions = (allowed) => ({ 'ctl/boundaries': ['error', allowed] });

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      'packages/runtime-native/build/**',
      'packages/runtime-native/fuzz/build/**',
      '**/src/generated/**',
      '**/node_modules/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { ctl: { rules: { boundaries } } },
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Prettier wraps code at 140; this holds comments to it too. Long strings stay whole.
      'max-len': ['error', { code: 140, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
    },
  },
  {
    // Plain CommonJS entry shims and build scripts.
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  // Patterns are relative to this file, also when nx runs `eslint .` in a package's directory.
  ...Object.entries(BOUNDARIES).map(([dir, { allowed }]) => ({ files: [`${dir}/**/*.ts`], rules: restrictions(allowed) })),
  ...Object.entries(HOSTS).map(([glob, hosted]) => {
    const dir = Object.keys(BOUNDARIES).find((d) => glob.startsWith(`${d}/`));
    return { files: [glob], rules: restrictions([...BOUNDARIES[dir].allowed, ...hosted]) };
  }),
);
