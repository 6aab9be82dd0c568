/** The containers API over the light wire client, for the command line; a caller cannot tell it from the local store. */
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import type { Container, Containers, NewContainer } from './containers';
import { type WireContainer, containerFromWire, containerToWire } from './convert';

const FILE = 'containerd/services/containers/v1/containers';
const SERVICE = 'containerd.services.containers.v1.Containers';
const method = <Req, Res>(name: string) => wireMethod<Req, Res>(FILE, SERVICE, name);

export class ContainersClient extends NamespacedClient implements Containers {
  async get(id: string): Promise<Container> {
    const res = await this.wire.unary(method<object, { container: WireContainer }>('Get'), { id }, this.options);
    return containerFromWire(res.container);
  }

  /** Through ListStream, as ctr lists (one container per message, so no message size bound). */
  async list(filters: string[] = []): Promise<Container[]> {
    const out: Container[] = [];
    await this.wire.serverStream(
      method<object, { container: WireContainer }>('ListStream'),
      { filters },
      (m) => out.push(containerFromWire(m.container)),
      this.options,
    );
    return out;
  }

  async create(container: NewContainer): Promise<Container> {
    const res = await this.wire.unary(
      method<object, { container: WireContainer }>('Create'),
      { container: containerToWire(container) },
      this.options,
    );
    return containerFromWire(res.container);
  }

  async update(container: NewContainer, fieldpaths: string[] = []): Promise<Container> {
    const request = { container: containerToWire(container), ...(fieldpaths.length ? { updateMask: { paths: fieldpaths } } : {}) };
    const res = await this.wire.unary(method<object, { container: WireContainer }>('Update'), request, this.options);
    return containerFromWire(res.container);
  }

  async delete(id: string): Promise<void> {
    await this.wire.unary(method<object, object>('Delete'), { id }, this.options);
  }
}
