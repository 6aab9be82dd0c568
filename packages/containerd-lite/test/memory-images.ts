/** A small in-memory Images for tests of code that names images (the real store lives elsewhere). */
import { alreadyExists, invalidArgument, notFound } from '@ctl/proto/errors';
import type { Image, Images } from '../src/images/images';

export class MemoryImages implements Images {
  readonly records = new Map<string, Image>();

  async get(name: string): Promise<Image> {
    const image = this.records.get(name);
    if (!image) throw notFound(`image "${name}" not found`);
    return structuredClone(image);
  }

  async list(): Promise<Image[]> {
    return [...this.records.values()].map((i) => structuredClone(i));
  }

  async create(image: Pick<Image, 'name' | 'target'> & Partial<Pick<Image, 'labels'>>): Promise<Image> {
    if (!image.name) throw invalidArgument('image name must not be empty');
    if (this.records.has(image.name)) throw alreadyExists(`image "${image.name}" already exists`);
    const now = new Date();
    const record: Image = {
      name: image.name,
      target: structuredClone(image.target),
      labels: { ...(image.labels ?? {}) },
      createdAt: now,
      updatedAt: now,
    };
    this.records.set(image.name, record);
    return structuredClone(record);
  }

  async update(image: Pick<Image, 'name'> & Partial<Pick<Image, 'target' | 'labels'>>, fieldpaths: string[] = []): Promise<Image> {
    const record = this.records.get(image.name);
    if (!record) throw notFound(`image "${image.name}" not found`);
    if (!fieldpaths.length || fieldpaths.includes('target')) if (image.target) record.target = structuredClone(image.target);
    if (!fieldpaths.length || fieldpaths.includes('labels')) record.labels = { ...(image.labels ?? {}) };
    record.updatedAt = new Date();
    return structuredClone(record);
  }

  async delete(name: string): Promise<void> {
    if (!this.records.delete(name)) throw notFound(`image "${name}" not found`);
  }
}
