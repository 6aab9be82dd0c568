/** The content API as one namespace sees it, over the store that holds every namespace's blobs. */
import type { Content, Info, ReadOptions, Status, Writer, WriterOptions } from './content';
import type { ContentStore } from './store';

export class NamespacedContent implements Content {
  constructor(
    private readonly store: ContentStore,
    readonly namespace: string,
  ) {}

  async info(digest: string): Promise<Info> {
    return this.store.info(this.namespace, digest);
  }

  update(info: Pick<Info, 'digest' | 'labels'>, fieldpaths: string[] = []): Promise<Info> {
    return this.store.update(this.namespace, info, fieldpaths);
  }

  list(filters: string[] = []): Promise<Info[]> {
    return this.store.list(this.namespace, filters);
  }

  delete(digest: string): Promise<void> {
    return this.store.delete(this.namespace, digest);
  }

  read(digest: string, options: ReadOptions = {}): AsyncIterable<Buffer> {
    return this.store.read(this.namespace, digest, options);
  }

  status(ref: string): Promise<Status> {
    return this.store.status(this.namespace, ref);
  }

  listStatuses(filters: string[] = []): Promise<Status[]> {
    return this.store.listStatuses(this.namespace, filters);
  }

  writer(ref: string, options: WriterOptions = {}): Promise<Writer> {
    return this.store.openWriter(this.namespace, ref, options);
  }

  abort(ref: string): Promise<void> {
    return this.store.abort(this.namespace, ref);
  }
}
