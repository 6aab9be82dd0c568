/**
 * Namespaces (tenancy) travel in the `containerd-namespace` gRPC metadata header, as with
 * containerd. Snapshotter keys never rely on it: containerd puts the namespace in the key.
 */
import { invalidArgument } from './errors';

export const NAMESPACE_HEADER = 'containerd-namespace';
export const DEFAULT_NAMESPACE = 'default';

// containerd's rule: labels of letters, digits, '-' and '_', joined by dots, starting and
// ending with a letter or digit, at most 76 characters.
const NAMESPACE_PATTERN = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

export function validateNamespace(name: string): string {
  if (!name) throw invalidArgument('namespace is required');
  if (name.length > 76) throw invalidArgument(`namespace "${name}" is longer than 76 characters`);
  if (!NAMESPACE_PATTERN.test(name)) {
    throw invalidArgument(`namespace "${name}" must be letters, digits, '.', '-' or '_' between alphanumerics`);
  }
  return name;
}

/** Anything that can answer metadata lookups, as grpc-js Metadata does. */
export interface MetadataLike {
  get(key: string): Array<string | Buffer>;
}

/** The namespace a request names, validated; the default namespace when it names none. */
export function namespaceFromMetadata(metadata: MetadataLike | undefined, fallback = DEFAULT_NAMESPACE): string {
  const values = metadata?.get(NAMESPACE_HEADER) ?? [];
  const value = values.length > 0 ? String(values[0]) : fallback;
  return validateNamespace(value);
}

/** Headers that put a call in a namespace, for clients. */
export function namespaceHeaders(namespace: string): Record<string, string> {
  return { [NAMESPACE_HEADER]: validateNamespace(namespace) };
}
