/** The images API over the light wire client, for the command line; a caller cannot tell it from the local store. */
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import { descriptorToWire, imageFromWire, type WireImage } from './convert';
import type { DeleteOptions, Image, Images } from './images';

const FILE = 'containerd/services/images/v1/images';
const SERVICE = 'containerd.services.images.v1.Images';
const method = <Req, Res>(name: string) => wireMethod<Req, Res>(FILE, SERVICE, name);

export class ImagesClient extends NamespacedClient implements Images {
  async get(name: string): Promise<Image> {
    const res = await this.wire.unary(method<object, { image: WireImage }>('Get'), { name }, this.options);
    return imageFromWire(res.image);
  }

  async list(filters: string[] = []): Promise<Image[]> {
    const res = await this.wire.unary(method<object, { images: WireImage[] }>('List'), { filters }, this.options);
    return res.images.map(imageFromWire);
  }

  async create(image: Pick<Image, 'name' | 'target'> & Partial<Pick<Image, 'labels'>>): Promise<Image> {
    const request = {
      image: { name: image.name, labels: image.labels ?? {}, target: image.target ? descriptorToWire(image.target) : undefined },
    };
    const res = await this.wire.unary(method<object, { image: WireImage }>('Create'), request, this.options);
    return imageFromWire(res.image);
  }

  async update(image: Pick<Image, 'name'> & Partial<Pick<Image, 'target' | 'labels'>>, fieldpaths: string[] = []): Promise<Image> {
    const request = {
      image: { name: image.name, labels: image.labels ?? {}, target: image.target ? descriptorToWire(image.target) : undefined },
      ...(fieldpaths.length ? { updateMask: { paths: fieldpaths } } : {}),
    };
    const res = await this.wire.unary(method<object, { image: WireImage }>('Update'), request, this.options);
    return imageFromWire(res.image);
  }

  async delete(name: string, options: DeleteOptions = {}): Promise<void> {
    await this.wire.unary(method<object, object>('Delete'), { name, sync: options.sync ?? false }, this.options);
  }
}
