/**
 * The images API of one namespace (containerd.services.images.v1): an image is a name pointing
 * at a descriptor (an index or a manifest in the content store), plus labels. Images are GC
 * roots: their target and everything it references stays.
 */
import type { Descriptor } from '../oci';

export interface Image {
  name: string;
  labels: Record<string, string>;
  target: Descriptor;
  createdAt: Date;
  updatedAt: Date;
}

export interface DeleteOptions {
  /** Run the garbage collection before returning (containerd's `sync`), not only schedule it. */
  sync?: boolean;
}

export interface Images {
  /** NotFound when there is no such image. */
  get(name: string): Promise<Image>;
  /** Images matching any of the filters (containerd syntax: name, target.digest, target.mediatype, labels.<key>). */
  list(filters?: string[]): Promise<Image[]>;
  /** AlreadyExists when the name is taken; InvalidArgument for an empty name or a bad target. */
  create(image: Pick<Image, 'name' | 'target'> & Partial<Pick<Image, 'labels'>>): Promise<Image>;
  /**
   * Replaces target and labels, or with field paths only those listed ("target", "labels",
   * "labels.<key>"; an empty value removes the label). NotFound when there is no such image.
   */
  update(image: Pick<Image, 'name'> & Partial<Pick<Image, 'target' | 'labels'>>, fieldpaths?: string[]): Promise<Image>;
  /** NotFound when there is no such image; schedules a garbage collection. */
  delete(name: string, options?: DeleteOptions): Promise<void>;
}
