/**
 * This package's Node addons (build/Release/<name>.node: ctl_xattr, ctl_socket), for the modules
 * that wrap them, also when a bundle of the CLI inlines those modules. The bundler
 * (packages/cli/scripts/bundle.mjs) sets CTL_NATIVE_BUILD_FROM_BUNDLE to the build directory
 * relative to each bundle: a resolution through the package's exports would load Node's ESM
 * resolver, ~3 ms of a short command. A bundle installed elsewhere than where it was built finds
 * the addon by package name instead.
 */
import { dirname, join } from 'node:path';

declare const CTL_NATIVE_BUILD_FROM_BUNDLE: string | undefined;

/** The addon; throws as require does when it cannot be loaded (not built, say). */
export function requireAddon<T>(name: string): T {
  const file = `${name}.node`;
  if (typeof CTL_NATIVE_BUILD_FROM_BUNDLE !== 'string') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(join(__dirname, '..', '..', 'build', 'Release', file)) as T;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(join(__dirname, CTL_NATIVE_BUILD_FROM_BUNDLE, file)) as T;
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(join(dirname(require.resolve('@ctl/runtime-native/package.json')), 'build', 'Release', file)) as T;
  }
}
