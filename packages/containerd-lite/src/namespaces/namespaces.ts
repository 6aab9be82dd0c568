/**
 * Namespaces are containerd's tenancy: every container, image, lease and content label lives in
 * one. A namespace is a name plus labels; it can be deleted only when nothing lives in it.
 */

export interface Namespace {
  name: string;
  labels: Record<string, string>;
}

/** The namespaces API, the same for the local store and the remote client. */
export interface Namespaces {
  /** NotFound when the namespace does not exist. */
  get(name: string): Promise<Namespace>;
  list(): Promise<Namespace[]>;
  /** AlreadyExists when it does. */
  create(namespace: Namespace): Promise<Namespace>;
  /**
   * Replaces the labels, or with a mask only the paths it lists: "labels" (all of them) or
   * "labels.<key>" (one; an empty value removes it). Any other path is InvalidArgument.
   */
  update(namespace: Namespace, mask?: string[]): Promise<Namespace>;
  /** FailedPrecondition when anything still lives in it. */
  delete(name: string): Promise<void>;
}
