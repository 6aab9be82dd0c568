/**
 * Platforms (`os/architecture[/variant]`), as containerd's `platforms` package has them:
 * normalisation of the names people and tools use, the host platform, and matchers.
 *
 * Matching (containerd's `platforms.Only`): os and architecture must be equal after
 * normalisation; variants must be equal, except that a platform also runs what it is
 * compatible with:
 *   - arm64 (v8, the default variant) also runs arm/v8, arm/v7, arm/v6, arm/v5;
 *   - arm/vN also runs arm/v(N-1) … arm/v5;
 *   - amd64: Node cannot tell the host's micro-architecture level, so the host platform
 *     (no variant) matches every amd64 variant (v1…v4), as containerd 1.6 did; an amd64
 *     platform with an explicit variant vN matches v1…vN. 386 is not run on amd64 hosts
 *     (containerd 1.6 behaviour).
 * Among several matches, `less` orders the best first: the platform itself, then each
 * compatible one in the order above.
 */
import { invalidArgument } from './errors';

/** An OCI image index's platform (image-spec's Platform). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** Normalises os, architecture and variant spellings (x86_64 → amd64, aarch64 → arm64, armhf → arm/v7 …). */
export function normalize(p: Platform): Platform {
  const os = (p.os || '').toLowerCase();
  let architecture = (p.architecture || '').toLowerCase();
  let variant = (p.variant || '').toLowerCase();
  switch (architecture) {
    case 'i386':
    case '386':
      architecture = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
  }
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  if (p['os.version']) out['os.version'] = p['os.version'];
  if (p['os.features']) out['os.features'] = p['os.features'];
  return out;
}

/** Parses `os[/arch[/variant]]` or a bare `arch[/variant]` (os linux), normalised. */
export function parse(spec: string): Platform {
  const parts = spec.trim().split('/');
  if (!spec.trim() || parts.length > 3 || parts.some((x) => !/^[A-Za-z0-9_.-]+$/.test(x))) {
    throw invalidArgument(`invalid platform "${spec}": expected os/architecture[/variant], e.g. linux/arm64/v8`);
  }
  const knownOs = [
    'linux',
    'windows',
    'darwin',
    'freebsd',
    'netbsd',
    'openbsd',
    'solaris',
    'illumos',
    'aix',
    'android',
    'ios',
    'js',
    'wasip1',
    'plan9',
    'dragonfly',
  ];
  if (parts.length === 1) {
    const only = parts[0]!.toLowerCase();
    return knownOs.includes(only)
      ? normalize({ os: only, architecture: hostPlatform().architecture, variant: only === 'linux' ? hostPlatform().variant : undefined })
      : normalize({ os: 'linux', architecture: only });
  }
  if (parts.length === 2 && !knownOs.includes(parts[0]!.toLowerCase()))
    return normalize({ os: 'linux', architecture: parts[0]!, variant: parts[1] });
  return normalize({ os: parts[0]!, architecture: parts[1]!, variant: parts[2] });
}

/** `os/arch[/variant]`, as written (not normalised); "unknown" for an empty os or architecture. */
export function format(p: Platform): string {
  return [p.os || 'unknown', p.architecture || 'unknown', ...(p.variant ? [p.variant] : [])].join('/');
}

const ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  mips: 'mips',
  mipsel: 'mipsle',
  loong64: 'loong64',
};

/**
 * The platform this process runs on: os linux, architecture from process.arch in OCI names
 * (x64 → amd64, arm64 → arm64 with variant v8, arm → arm with the variant Node was built
 * for, ia32 → 386, ppc64 → ppc64le since Node only supports little-endian ppc64 on Linux).
 */
export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = Number((process.config.variables as unknown as Record<string, unknown>).arm_version);
    p.variant = Number.isInteger(v) && v >= 5 ? `v${v}` : 'v7';
  }
  return p;
}

export interface Matcher {
  /** Whether an image for p runs here. */
  match(p: Platform): boolean;
  /** Whether a is preferred over b (both matching). */
  less(a: Platform, b: Platform): boolean;
}

const sameOsArchVariant = (a: Platform, b: Platform): boolean =>
  a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');

/** The platform and what it is compatible with, best first (all normalised). */
function vector(p: Platform): Platform[] {
  const n = normalize(p);
  const out = [n];
  const armFrom = (v: number) => {
    for (let i = v; i >= 5; i--) out.push({ os: n.os, architecture: 'arm', variant: `v${i}` });
  };
  if (n.architecture === 'arm64' && !n.variant) armFrom(8);
  if (n.architecture === 'arm' && n.variant) {
    const v = Number(n.variant.slice(1));
    if (Number.isInteger(v)) armFrom(v - 1);
  }
  if (n.architecture === 'amd64') {
    const level = n.variant ? Number(n.variant.slice(1)) : 0;
    out.length = 0;
    if (level >= 2) {
      // An explicit level vN runs vN, v(N-1) … v2, then the baseline.
      for (let i = level; i >= 2; i--) out.push({ os: n.os, architecture: 'amd64', variant: `v${i}` });
      out.push({ os: n.os, architecture: 'amd64' });
    } else {
      // Unknown level (the host): the baseline first, then v2 … v4.
      out.push({ os: n.os, architecture: 'amd64' });
      for (let i = 2; i <= 4; i++) out.push({ os: n.os, architecture: 'amd64', variant: `v${i}` });
    }
  }
  return out;
}

/** Matches p and what it is compatible with (containerd's `platforms.Only`). */
export function only(p: Platform): Matcher {
  const v = vector(p);
  const rank = (q: Platform): number => {
    const n = normalize(q);
    return v.findIndex((c) => sameOsArchVariant(c, n));
  };
  return {
    match: (q) => rank(q) >= 0,
    less: (a, b) => {
      const ra = rank(a);
      const rb = rank(b);
      return ra >= 0 && (rb < 0 || ra < rb);
    },
  };
}

/** Matches exactly p (after normalisation), nothing compatible (containerd's `OnlyStrict`). */
export function onlyStrict(p: Platform): Matcher {
  const n = normalize(p);
  return { match: (q) => sameOsArchVariant(normalize(q), n), less: () => false };
}

/** Matches any of the platforms, ordered by their order in the list, then by each one's own order. */
export function any(...platforms: Platform[]): Matcher {
  const matchers = platforms.map(only);
  const first = (q: Platform) => matchers.findIndex((m) => m.match(q));
  return {
    match: (q) => first(q) >= 0,
    less: (a, b) => {
      const fa = first(a);
      const fb = first(b);
      if (fa < 0) return false;
      if (fb < 0 || fa !== fb) return fb < 0 || fa < fb;
      return matchers[fa]!.less(a, b);
    },
  };
}

/** Matches every platform. */
export const all: Matcher = { match: () => true, less: () => false };

/** The host's matcher (containerd's `platforms.Default()`). */
export const defaultMatcher = (): Matcher => only(hostPlatform());
