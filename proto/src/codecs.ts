/**
 * The precompiled static codecs (dist/static/, one module per .proto file, made by
 * scripts/generate.mjs) and the message shape they give: what the light client (wire.ts) and
 * the services' grpc-js definitions (contracts.ts `serviceDefinition`) both encode and decode
 * with. Light: node built-ins and protobufjs's minimal runtime, loaded on first use.
 */
import { EngineError, ErrorKind } from './errors';

interface StaticType {
  encode(message: unknown): { finish(): Uint8Array };
  decode(bytes: Uint8Array): unknown;
  fromObject(object: unknown): unknown;
  toObject(message: unknown, options: object): unknown;
}

/** One method as the generated method table of its .proto file describes it. */
export interface StaticMethodInfo {
  path: string;
  requestType: string;
  responseType: string;
  requestStream: boolean;
  responseStream: boolean;
}

/** One message type's codec: plain objects of the generated TypeScript types in and out. */
export interface MessageCodec<T> {
  encode(message: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/**
 * toObject's options: the conversions loader-options.json names (camelCase names are built
 * into the codecs), so that these codecs and @grpc/proto-loader's give one shape
 * (codecs.test.ts holds the two together).
 */
export const TO_OBJECT = { longs: Number, enums: String, defaults: true, oneofs: true } as const;

interface CodecModule {
  (protobuf: unknown): Record<string, unknown>;
  methods: Record<string, StaticMethodInfo>;
}

type Codecs = { root: Record<string, unknown>; methods: Record<string, StaticMethodInfo> };
/** The codec modules loaded so far, by stem: each is required and built once per process. */
const loaded = new Map<string, Codecs>();
/** staticMethod's answers: a client asks for its method's codecs at every call. */
const methodsMade = new Map<string, StaticMethod>();
let protobufRuntime: unknown;

/**
 * Set by the CLI's bundler (scripts/bundle.mjs) in each bundle: the static codecs' directory
 * relative to that bundle, as the build found it.
 */
declare const CTL_STATIC_CODECS_FROM_BUNDLE: string | undefined;

/**
 * A static codec module. Required by package name, so that the CLI's bundles (which leave them
 * outside) and the plain build find the same files; but a bundle first tries the path its build
 * saw: the first package-exports resolution of a process loads Node's resolver and costs a short
 * command ~3 ms of its ~20.
 */
function requireStatic(stem: string): CodecModule {
  const mod = requireStaticIfAny(stem);
  if (!mod) throw new EngineError(ErrorKind.Internal, `no static codecs ${stem}: build @ctl/proto`);
  return mod;
}

function requireStaticIfAny(stem: string): CodecModule | undefined {
  if (typeof CTL_STATIC_CODECS_FROM_BUNDLE === 'string') {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(`${__dirname}/${CTL_STATIC_CODECS_FROM_BUNDLE}/${stem}.js`) as CodecModule;
    } catch (err) {
      // installed elsewhere than where it was built: by name, as the plain build does
      if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(`@ctl/proto/static/${stem}`) as CodecModule;
  } catch (err) {
    if ((err as { code?: string }).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(stem)) return undefined;
    throw err;
  }
}

/** The static codecs of one .proto file (its path without `.proto`), loaded on first use. */
export function staticCodecs(protoFile: string): Codecs {
  const stem = protoFile.replace(/\//g, '_');
  return loaded.get(stem) ?? build(stem, requireStatic(stem));
}

/**
 * The static codecs of one method alone (generate.mjs: only the types its messages reach), or of
 * its whole file when there are none.
 */
function methodCodecs(protoFile: string, service: string, method: string): Codecs {
  const stem = `${protoFile.replace(/\//g, '_')}--${service.slice(service.lastIndexOf('.') + 1)}.${method}`;
  const known = loaded.get(stem);
  if (known) return known;
  const mod = requireStaticIfAny(stem);
  return mod ? build(stem, mod) : staticCodecs(protoFile);
}

function build(stem: string, mod: CodecModule): Codecs {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  protobufRuntime ??= require('protobufjs/minimal');
  const codecs = { root: mod(protobufRuntime), methods: mod.methods };
  loaded.set(stem, codecs);
  return codecs;
}

/** A message type's codec from one file's codecs (full name without the leading dot); undefined when it has none. */
export function messageCodec<T>(root: Record<string, unknown>, fullName: string): MessageCodec<T> | undefined {
  const type = fullName.split('.').reduce<any>((ns, part) => ns?.[part], root) as StaticType | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (typeof type?.encode !== 'function') return undefined;
  return {
    encode: (message) => type.encode(type.fromObject(message ?? {})).finish(),
    decode: (bytes) => type.toObject(type.decode(bytes), TO_OBJECT) as T,
  };
}

/** One method's path, streaming and both messages' codecs. */
export interface StaticMethod {
  /** The method's name as the .proto file spells it (Prepare). */
  name: string;
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  request: MessageCodec<unknown>;
  response: MessageCodec<unknown>;
}

function codecOf(root: Record<string, unknown>, fullName: string, protoFile: string): MessageCodec<unknown> {
  const codec = messageCodec<unknown>(root, fullName);
  if (!codec) throw new EngineError(ErrorKind.Internal, `no codec for ${fullName} in ${protoFile}.proto's static codecs`);
  return codec;
}

/** One method of `service` (full name, e.g. `containerd.services.version.v1.Version`) in `protoFile`. */
export function staticMethod(protoFile: string, service: string, method: string): StaticMethod {
  const key = `${protoFile}\0${service}\0${method}`;
  const made = methodsMade.get(key);
  if (made) return made;
  const { root, methods } = methodCodecs(protoFile, service, method);
  const info = methods[`${service}/${method}`];
  if (!info) throw new EngineError(ErrorKind.NotFound, `no method ${service}/${method} in ${protoFile}.proto`);
  const m: StaticMethod = {
    name: method,
    path: info.path,
    requestStream: info.requestStream,
    responseStream: info.responseStream,
    request: codecOf(root, info.requestType, protoFile),
    response: codecOf(root, info.responseType, protoFile),
  };
  methodsMade.set(key, m);
  return m;
}

/** Every method of `service` in `protoFile`, in the order the file declares them. */
export function staticService(protoFile: string, service: string): StaticMethod[] {
  const { methods } = staticCodecs(protoFile);
  const prefix = `${service}/`;
  const names = Object.keys(methods)
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length));
  if (!names.length) throw new EngineError(ErrorKind.NotFound, `no service ${service} in ${protoFile}.proto`);
  return names.map((name) => staticMethod(protoFile, service, name));
}
