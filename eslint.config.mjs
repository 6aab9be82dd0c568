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
  'packages/containerd-lite': { allowed: ['@ctl/proto', '@ctl/runtime-native', '@ctl/snapshotter/client', '@ctl/netd/client'] },
  'packages/cli': { allowed: ['@ctl/proto'] },
};
// Files that host other services in-process; they may import those services' main entries.
const HOSTS = {
  'packages/cli/src/commands/daemon.ts': SERVICES,
  'packages/cli/test/**/*.ts': SERVICES,
  'packages/containerd-lite/test/instance.ts': ['@ctl/snapshotter', '@ctl/netd'],
};

const OURS = ['@ctl/proto', '@ctl/runtime-native', ...SERVICES];

/** no-restricted-imports patterns that forbid every @ctl import not in allowed. */
function restrictions(allowed) {
  const patterns = [];
  for (const pkg of OURS) {
    if (allowed.includes(pkg)) continue;
    const entries = allowed.filter((a) => a.startsWith(`${pkg}/`)).map((e) => e.slice(pkg.length));
    const except = entries.length ? `(?!(${entries.join('|')})$)` : '';
    patterns.push({
      regex: `^${pkg}${except}(/.*)?$`,
      message: entries.length
        ? `this package may use ${pkg} only through ${entries.map((e) => pkg + e).join(', ')} (see eslint.config.mjs BOUNDARIES)`
        : `this package may not depend on ${pkg} (see eslint.config.mjs BOUNDARIES)`,
    });
  }
  return { 'no-restricted-imports': ['error', { patterns }] };
}

export default tseslint.config(
  { ignores: ['**/dist/**', '**/build/**', '**/src/generated/**', '**/node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
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
